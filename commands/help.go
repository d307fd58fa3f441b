package commands

import (
	"fmt"
	"strings"
)

// Help returns the help text: the list of commands for "", a group's commands for a
// group name ("dag"), or one command in full. Unknown names are a *UsageError with a
// suggestion.
func Help(name string) (string, error) {
	name = strings.ToLower(strings.Join(strings.Fields(name), " "))
	specs := catalog()
	if name == "" {
		return helpIndex(specs), nil
	}
	if s := find(specs, name); s != nil {
		return helpCommand(s), nil
	}
	var group []*Spec
	for _, s := range specs {
		if strings.HasPrefix(s.Name, name+" ") {
			group = append(group, s)
		}
	}
	if len(group) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "%s commands:\n", name)
		listSpecs(&b, group)
		b.WriteString("\nType \"help <command>\" for one command's arguments and examples.\n")
		return b.String(), nil
	}
	fields := strings.Fields(name)
	toks := make([]token, len(fields))
	for i, w := range fields {
		toks[i] = token{value: w}
	}
	w1 := ""
	if len(fields) > 1 {
		w1 = fields[1]
	}
	if len(fields) == 0 {
		return helpIndex(specs), nil
	}
	return "", unknownCommand(specs, toks, fields[0], w1)
}

func helpIndex(specs []*Spec) string {
	var b strings.Builder
	b.WriteString("exchops runs Exchange 2010 high availability from chat. Commands that change\n")
	b.WriteString("something wait for a second admin's approval; the approver sees the exact\n")
	b.WriteString("PowerShell, the server it runs on and the preflight findings.\n")
	sections := []struct {
		title string
		keep  func(*Spec) bool
	}{
		{"Changes (need approval)", func(s *Spec) bool { return !s.ReadOnly }},
		{"Read-only", func(s *Spec) bool { return s.ReadOnly && s.Handler == HandlerExchange }},
		{"Requests and help", func(s *Spec) bool { return s.Handler == HandlerBot }},
	}
	for _, sec := range sections {
		var in []*Spec
		for _, s := range specs {
			if sec.keep(s) {
				in = append(in, s)
			}
		}
		fmt.Fprintf(&b, "\n%s:\n", sec.title)
		listSpecs(&b, in)
	}
	b.WriteString("\nValues are positional or key=value; put a value with spaces in double quotes:\n")
	b.WriteString("interface=\"Local Area Connection\". Type \"help <command>\" for details.\n")
	return b.String()
}

func listSpecs(b *strings.Builder, specs []*Spec) {
	for _, s := range specs {
		fmt.Fprintf(b, "  %s\n      %s\n", s.Usage(), s.Summary)
	}
}

func helpCommand(s *Spec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%s\n\n", s.Usage(), s.Summary)
	switch {
	case s.Handler == HandlerBot:
		b.WriteString("Answered by exchops itself; runs no PowerShell.\n")
	case s.ReadOnly:
		fmt.Fprintf(&b, "Read-only, runs without approval on %s.\n", s.Target)
	default:
		fmt.Fprintf(&b, "Changes the organisation once a second admin approves; runs on %s.\n", s.Target)
	}
	if len(s.Args) > 0 {
		b.WriteString("\nArguments:\n")
		for _, a := range s.Args {
			label := a.Name + "="
			if a.Positional {
				label = "<" + a.Name + ">"
			}
			req := "optional"
			if a.Required {
				req = "required"
			}
			if a.Default != "" {
				req += ", default " + a.Default
			}
			fmt.Fprintf(&b, "  %s (%s) %s\n      %s.\n", label, req, a.Help, capitalize(a.rule()))
		}
	}
	for _, n := range s.Notes {
		fmt.Fprintf(&b, "\n%s\n", n)
	}
	if len(s.Examples) > 0 {
		b.WriteString("\nExamples:\n")
		for _, e := range s.Examples {
			fmt.Fprintf(&b, "  /exchange %s\n", e)
		}
	}
	return b.String()
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
