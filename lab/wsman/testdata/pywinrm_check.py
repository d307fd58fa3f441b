"""Conformance check of the lab's WS-Management server with an independent client.

Runs commands through pywinrm's Protocol (open_shell, run_command, get_command_output,
cleanup_command, close_shell) and prints one JSON object per command, for the Go test to
compare. WSMAN_ENCRYPTION is pywinrm's message_encryption (never by default; "always"
seals every message with NTLM over HTTP, as against a Windows server). Credentials come from the environment (WSMAN_USER, WSMAN_PASSWORD) so they never
appear in a process listing or in output.
"""
import base64
import json
import os
import sys

from winrm.protocol import Protocol


def main():
    endpoint, transport = sys.argv[1], sys.argv[2]
    commands = sys.argv[3:]
    p = Protocol(
        endpoint=endpoint,
        transport=transport,
        username=os.environ["WSMAN_USER"],
        password=os.environ["WSMAN_PASSWORD"],
        message_encryption=os.environ.get("WSMAN_ENCRYPTION", "never"),
        operation_timeout_sec=1,
        read_timeout_sec=10,
    )
    shell_id = p.open_shell()
    for command in commands:
        verb, _, rest = command.partition(" ")
        args = rest.split(" ") if verb == "args" else []
        command_id = p.run_command(shell_id, command if verb != "args" else "args", args)
        stdout, stderr, code = p.get_command_output(shell_id, command_id)
        p.cleanup_command(shell_id, command_id)
        print(json.dumps({
            "command": command,
            "stdout": base64.b64encode(stdout).decode("ascii"),
            "stderr": base64.b64encode(stderr).decode("ascii"),
            "exit_code": code,
        }))
    p.close_shell(shell_id)


if __name__ == "__main__":
    main()
