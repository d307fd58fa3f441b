package psrp

import (
	"errors"
	"fmt"
	"strings"
)

// SessionCapability is a SESSION_CAPABILITY message (MS-PSRP 2.2.2.1).
type SessionCapability struct {
	ProtocolVersion      string
	PSVersion            string
	SerializationVersion string
}

// DecodeSessionCapability reads a client's SESSION_CAPABILITY data.
func DecodeSessionCapability(data []byte) (SessionCapability, error) {
	root, err := parseCLIXML(data)
	if err != nil {
		return SessionCapability{}, err
	}
	var c SessionCapability
	for name, dst := range map[string]*string{
		"protocolversion": &c.ProtocolVersion, "PSVersion": &c.PSVersion, "SerializationVersion": &c.SerializationVersion,
	} {
		p := root.prop(name)
		if p == nil {
			return c, fmt.Errorf("psrp: SESSION_CAPABILITY has no %s", name)
		}
		*dst = strings.TrimSpace(p.text)
	}
	if !strings.HasPrefix(c.ProtocolVersion, "2.") {
		return c, fmt.Errorf("psrp: protocol version %q is not supported: the server speaks 2.1", c.ProtocolVersion)
	}
	return c, nil
}

// InitRunspacePool is the part of INIT_RUNSPACEPOOL (MS-PSRP 2.2.2.2) the lab uses.
type InitRunspacePool struct {
	MinRunspaces int
	MaxRunspaces int
}

// DecodeInitRunspacePool reads a client's INIT_RUNSPACEPOOL data.
func DecodeInitRunspacePool(data []byte) (InitRunspacePool, error) {
	root, err := parseCLIXML(data)
	if err != nil {
		return InitRunspacePool{}, err
	}
	d := newDecoder()
	var r InitRunspacePool
	for name, dst := range map[string]*int{"MinRunspaces": &r.MinRunspaces, "MaxRunspaces": &r.MaxRunspaces} {
		p := root.prop(name)
		if p == nil {
			return r, fmt.Errorf("psrp: INIT_RUNSPACEPOOL has no %s", name)
		}
		v, err := d.value(p)
		if err != nil {
			return r, err
		}
		n, ok := v.(int)
		if !ok {
			return r, fmt.Errorf("psrp: INIT_RUNSPACEPOOL's %s is not an integer", name)
		}
		*dst = n
	}
	if r.MinRunspaces < 1 || r.MaxRunspaces < r.MinRunspaces {
		return r, fmt.Errorf("psrp: INIT_RUNSPACEPOOL asks for %d to %d runspaces: at least 1, and max not below min", r.MinRunspaces, r.MaxRunspaces)
	}
	return r, nil
}

// CreatePipeline is the part of CREATE_PIPELINE (MS-PSRP 2.2.2.10) the lab uses.
type CreatePipeline struct {
	NoInput  bool
	IsNested bool
	Commands []Command
}

// DecodeCreatePipeline reads a client's CREATE_PIPELINE data: the PowerShell object's
// Cmds, each with its Cmd, IsScript and Args (N: name or Nil, V: value).
func DecodeCreatePipeline(data []byte) (CreatePipeline, error) {
	root, err := parseCLIXML(data)
	if err != nil {
		return CreatePipeline{}, err
	}
	d := newDecoder()
	var cp CreatePipeline
	if p := root.prop("NoInput"); p != nil {
		cp.NoInput = strings.TrimSpace(p.text) == "true"
	}
	if p := root.prop("IsNested"); p != nil {
		cp.IsNested = strings.TrimSpace(p.text) == "true"
	}
	psObj := root.prop("PowerShell")
	if psObj == nil || psObj.tag != "Obj" {
		return cp, errors.New("psrp: CREATE_PIPELINE has no PowerShell object")
	}
	cmds, err := d.commands(psObj)
	if err != nil {
		return cp, err
	}
	cp.Commands = cmds
	// ExtraCmds holds further statements (a client's AddStatement); they run after Cmds.
	if extra := psObj.prop("ExtraCmds"); extra != nil && extra.tag == "Obj" {
		if lst := extra.child("LST"); lst != nil {
			for _, stmt := range lst.children {
				more, err := d.commands(stmt)
				if err != nil {
					return cp, err
				}
				cp.Commands = append(cp.Commands, more...)
			}
		}
	}
	if len(cp.Commands) == 0 {
		return cp, errors.New("psrp: CREATE_PIPELINE has no commands")
	}
	return cp, nil
}

// commands reads the Cmds list of a PowerShell (or ExtraCmds statement) object.
func (d *decoder) commands(psObj *node) ([]Command, error) {
	cmdsNode := psObj.prop("Cmds")
	if cmdsNode == nil || cmdsNode.tag != "Obj" || cmdsNode.child("LST") == nil {
		return nil, errors.New("psrp: the PowerShell object has no Cmds list")
	}
	var out []Command
	for _, c := range cmdsNode.child("LST").children {
		if c.tag == "Ref" {
			c = d.objs[c.refID]
			if c == nil {
				return nil, errors.New("psrp: a command refers to an object not seen before")
			}
		}
		if c.tag != "Obj" {
			return nil, fmt.Errorf("psrp: a command is <%s>, not <Obj>", c.tag)
		}
		if c.refID != "" {
			d.objs[c.refID] = c
		}
		var cmd Command
		p := c.prop("Cmd")
		if p == nil || p.tag != "S" {
			return nil, errors.New("psrp: a command has no Cmd string")
		}
		cmd.Name = decodeXMLString(p.text)
		if p := c.prop("IsScript"); p != nil {
			cmd.IsScript = strings.TrimSpace(p.text) == "true"
		}
		if args := c.prop("Args"); args != nil && args.tag == "Obj" {
			if args.refID != "" {
				d.objs[args.refID] = args
			}
			d.typeNames(args)
			if lst := args.child("LST"); lst != nil {
				for _, a := range lst.children {
					arg, err := d.arg(a)
					if err != nil {
						return nil, fmt.Errorf("psrp: command %s: %w", cmd.Name, err)
					}
					cmd.Args = append(cmd.Args, arg)
				}
			}
		}
		out = append(out, cmd)
	}
	return out, nil
}

// arg reads one element of a command's Args: an object with N (the parameter name, or
// Nil for a positional argument) and V (the value).
func (d *decoder) arg(a *node) (Arg, error) {
	if a.tag == "Ref" {
		if a = d.objs[a.refID]; a == nil {
			return Arg{}, errors.New("an argument refers to an object not seen before")
		}
	}
	if a.tag != "Obj" {
		return Arg{}, fmt.Errorf("an argument is <%s>, not <Obj>", a.tag)
	}
	if a.refID != "" {
		d.objs[a.refID] = a
	}
	var arg Arg
	raw := ""
	if n := a.prop("N"); n != nil && n.tag == "S" {
		raw = strings.TrimSpace(decodeXMLString(n.text))
		arg.Name = strings.TrimSuffix(strings.TrimPrefix(raw, "-"), ":")
	}
	vn := a.prop("V")
	if vn == nil {
		return arg, errors.New("an argument has no V")
	}
	v, err := d.value(vn)
	if err != nil {
		if arg.Name != "" {
			return arg, fmt.Errorf("parameter %s: %w", arg.Name, err)
		}
		return arg, err
	}
	// As PowerShell's CommandParameter does: a name written as in a script, with its
	// dash and no colon ("-Force"), and no value is a switch; a bare name ("Force",
	// what clients send) with Nil is that parameter with the argument $null.
	if v == nil && strings.HasPrefix(raw, "-") && !strings.HasSuffix(raw, ":") {
		v = true
	}
	arg.Value = v
	return arg, nil
}

// DecodeValue reads one CLIXML value (a PIPELINE_OUTPUT's data, for example) into the
// lab's values. Tests and the lab's client-side checks use it.
func DecodeValue(data []byte) (any, error) {
	root, err := parseCLIXML(data)
	if err != nil {
		return nil, err
	}
	return newDecoder().value(root)
}
