package lab

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ControlHandler serves the lab's fault switchboard, so a person running `exchops
// lab` or the demo can break things on purpose while watching exchops react:
//
//	POST /fault  kind=server   server=EX10-MB02 fault=hang|unreachable|http500|unauthorized|malformed|none
//	POST /fault  kind=copy     database=MB01 server=EX10-MB02 status=Failed|FailedAndSuspended|"" [message=...]
//	POST /fault  kind=queues   database=MB01 server=EX10-MB02 copy=40 replay=12
//	POST /fault  kind=index    database=MB01 server=EX10-MB02 state=Failed|Disabled|Healthy
//	POST /fault  kind=lag      database=MB01 server=EX10-MB02 replay=168h [truncation=24h] (0s: not lagged)
//	POST /fault  kind=network  dag=E14-DAG network=DAGNetwork02 down=true|false
//	POST /fault  kind=witness  dag=E14-DAG unreachable=true|false
//	POST /fault  kind=member   dag=E14-DAG server=EX10-MB02 down=true|false
//	POST /fault  kind=node     server=EX10-MB02 paused=true|false (the cluster node, paused by hand)
//	POST /fault  kind=policy   server=EX10-MB02 policy=Unrestricted|IntrasiteOnly|Blocked
//	POST /fault  kind=activation database=MB01 server=EX10-MB02 suspended=true|false [comment=...]
//	POST /fault  kind=service  server=EX10-MB02 service=MSExchangeIS running=true|false
//	POST /fault  kind=transport server=EX10-CAHT messages=90 [growth=10] [shadow=5] (growth: messages a minute)
//	POST /fault  kind=mount    database=MB01 mounted=true|false
//	POST /fault  kind=publicfolder server=EX10-MB01 mounted=true|false [name=PF01] (added when absent)
//
// Values come as form fields or URL query parameters. It answers 200 "ok" or 400 with
// what is wrong. It listens on loopback only, like every lab endpoint.
func (l *Lab) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /fault", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := l.applyFault(r.Form.Get); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

func (l *Lab) applyFault(get func(string) string) error {
	need := func(keys ...string) error {
		var missing []string
		for _, k := range keys {
			if get(k) == "" {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("kind=%s needs %s", get("kind"), strings.Join(missing, ", "))
		}
		return nil
	}
	flag := func(key string) (bool, error) {
		b, err := strconv.ParseBool(get(key))
		if err != nil {
			return false, fmt.Errorf("%s=%q: write true or false", key, get(key))
		}
		return b, nil
	}
	o := l.Org
	switch kind := get("kind"); kind {
	case "server":
		if err := need("server", "fault"); err != nil {
			return err
		}
		return l.SetFault(get("server"), get("fault"))
	case "copy":
		if err := need("database", "server"); err != nil {
			return err
		}
		return o.SetCopyFault(get("database"), get("server"), get("status"), get("message"))
	case "queues":
		if err := need("database", "server", "copy", "replay"); err != nil {
			return err
		}
		cq, err1 := strconv.Atoi(get("copy"))
		rq, err2 := strconv.Atoi(get("replay"))
		if err1 != nil || err2 != nil {
			return fmt.Errorf("copy and replay are queue lengths: whole numbers")
		}
		return o.SetQueues(get("database"), get("server"), cq, rq)
	case "index":
		if err := need("database", "server", "state"); err != nil {
			return err
		}
		return o.SetContentIndexState(get("database"), get("server"), get("state"))
	case "lag":
		if err := need("database", "server", "replay"); err != nil {
			return err
		}
		replay, err := time.ParseDuration(get("replay"))
		if err != nil {
			return fmt.Errorf("replay=%q: write a duration such as 168h or 0s", get("replay"))
		}
		var trunc time.Duration
		if v := get("truncation"); v != "" {
			if trunc, err = time.ParseDuration(v); err != nil {
				return fmt.Errorf("truncation=%q: write a duration such as 24h or 0s", v)
			}
		}
		return o.SetLag(get("database"), get("server"), replay, trunc)
	case "network":
		if err := need("dag", "network", "down"); err != nil {
			return err
		}
		down, err := flag("down")
		if err != nil {
			return err
		}
		return o.SetNetworkDown(get("dag"), get("network"), down)
	case "witness":
		if err := need("dag", "unreachable"); err != nil {
			return err
		}
		v, err := flag("unreachable")
		if err != nil {
			return err
		}
		return o.SetWitnessUnreachable(get("dag"), v)
	case "member":
		if err := need("dag", "server", "down"); err != nil {
			return err
		}
		down, err := flag("down")
		if err != nil {
			return err
		}
		return o.SetMemberDown(get("dag"), get("server"), down)
	case "node":
		if err := need("server", "paused"); err != nil {
			return err
		}
		v, err := flag("paused")
		if err != nil {
			return err
		}
		return o.SetNodePaused(get("server"), v)
	case "policy":
		if err := need("server", "policy"); err != nil {
			return err
		}
		return o.SetActivationPolicy(get("server"), get("policy"))
	case "activation":
		if err := need("database", "server", "suspended"); err != nil {
			return err
		}
		v, err := flag("suspended")
		if err != nil {
			return err
		}
		return o.SuspendActivation(get("database"), get("server"), v, get("comment"))
	case "service":
		if err := need("server", "service", "running"); err != nil {
			return err
		}
		running, err := flag("running")
		if err != nil {
			return err
		}
		return o.SetServiceStopped(get("server"), get("service"), !running)
	case "transport":
		if err := need("server", "messages"); err != nil {
			return err
		}
		var n [3]int
		for i, k := range []string{"messages", "growth", "shadow"} {
			if v := get(k); v != "" {
				x, err := strconv.Atoi(v)
				if err != nil {
					return fmt.Errorf("%s=%q: write a whole number", k, v)
				}
				n[i] = x
			}
		}
		return o.SetTransportQueue(get("server"), n[0], n[1], n[2])
	case "mount":
		if err := need("database", "mounted"); err != nil {
			return err
		}
		m, err := flag("mounted")
		if err != nil {
			return err
		}
		return o.SetMounted(get("database"), m)
	case "publicfolder":
		if err := need("server", "mounted"); err != nil {
			return err
		}
		m, err := flag("mounted")
		if err != nil {
			return err
		}
		return o.AddPublicFolderDatabase(get("server"), get("name"), m)
	default:
		return fmt.Errorf("kind=%q: use one of server, copy, queues, index, lag, network, witness, member, node, policy, activation, service, transport, mount, publicfolder", kind)
	}
}
