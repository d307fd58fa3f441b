package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exchops/exchops/config"
)

// secretInEnvKey is what an operator pastes into password_env by mistake.
const secretInEnvKey = "Qq7#pa55-w0rd!"

// TestConfigCheckRefusesSecretInEnvKey: `config check` refuses a *_env key that holds
// a secret instead of a variable's name, names the key, and never prints the value.
func TestConfigCheckRefusesSecretInEnvKey(t *testing.T) {
	example, err := os.ReadFile("exchops.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yaml := strings.Replace(string(example), "password_env: WINRM_PASSWORD", "password_env: '"+secretInEnvKey+"'", 1)
	if yaml == string(example) {
		t.Fatal("the example file no longer sets password_env: WINRM_PASSWORD; update the test")
	}
	path := filepath.Join(t.TempDir(), "exchops.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"config", "check", "--config", path}, &out, &errb)
	if code != exitUsage || !strings.Contains(errb.String(), "exchange.winrm.password_env: is not the name of an environment variable") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit %d and the key's problem", code, errb.String(), exitUsage)
	}
	if strings.Contains(out.String()+errb.String(), secretInEnvKey) {
		t.Errorf("config check printed the value of password_env")
	}
}

// TestUnsetVariableNeverEchoesAValue: the runtime's "variable is not set" messages and
// the runner's errors name the variable only when the key holds a name; a value that is
// not one (a configuration built without config check) is never repeated.
func TestUnsetVariableNeverEchoesAValue(t *testing.T) {
	c, err := config.Load("exchops.example.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Exchange.WinRM.PasswordEnv = secretInEnvKey
	_, err = endpointsFromConfig(c.Exchange, []string{"PATH=/bin"})
	if err == nil || !strings.Contains(err.Error(), "exchange.winrm.password_env") {
		t.Fatalf("error %v, want one naming exchange.winrm.password_env", err)
	}
	if strings.Contains(err.Error(), secretInEnvKey) {
		t.Errorf("the error repeats the value: %v", err)
	}
	// A variable of that name in the environment is not read either: the value is no name.
	if eps, err := endpointsFromConfig(c.Exchange, []string{secretInEnvKey + "=pw"}); err == nil {
		t.Errorf("a value that is not a name was looked up: %d endpoints", len(eps))
	}
	// With a valid name, the message names it and the runner may mention it.
	c.Exchange.WinRM.PasswordEnv = "WINRM_PASSWORD"
	if _, err := endpointsFromConfig(c.Exchange, []string{"PATH=/bin"}); err == nil || !strings.Contains(err.Error(), "the environment variable WINRM_PASSWORD is not set") {
		t.Errorf("error %v, want it to name WINRM_PASSWORD", err)
	}
	eps, err := endpointsFromConfig(c.Exchange, []string{"WINRM_PASSWORD=pw"})
	if err != nil || len(eps) == 0 || eps[0].PasswordFrom != "WINRM_PASSWORD" {
		t.Fatalf("endpoints %v, %v: want PasswordFrom WINRM_PASSWORD", eps, err)
	}
	if got := envVar("discord.bot_token_env", secretInEnvKey); strings.Contains(got, secretInEnvKey) || !strings.Contains(got, "discord.bot_token_env") {
		t.Errorf("envVar = %q", got)
	}
}
