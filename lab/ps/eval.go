package ps

import (
	"context"
	"errors"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits that keep a runaway or hostile script from taking the host down; a real
// powershell.exe would run until killed, the lab must answer.
const (
	maxSteps     = 5_000_000 // statements and loop iterations per Run
	maxCallDepth = 100       // nested script block invocations
	maxItems     = 1 << 20   // elements in one array
	maxStringLen = 1 << 24   // runes in one string
)

// runtimeError is a terminating error travelling up to a catch or to the top.
type runtimeError struct {
	rec *ErrorRecord
	at  int
	// stmtOnly marks statement-terminating errors (unknown command, parameter
	// binding): outside try they are printed and the script goes on.
	stmtOnly bool
	// stopped marks a non-terminating error turned terminating by -ErrorAction
	// Stop; printed uncaught, PowerShell 2.0 prefixes the preference message.
	stopped bool
	// halt marks the end of the run (ctx cancelled); catch does not see it.
	halt bool
}

func (e *runtimeError) Error() string { return e.rec.Message }

type breakFlow struct{ cont bool }

func (breakFlow) Error() string { return "break" }

type returnFlow struct{}

func (returnFlow) Error() string { return "return" }

type exitFlow struct{ code int }

func (exitFlow) Error() string { return "exit" }

func rtErr(at int, category ErrorCategory, id, exType, format string, args ...any) *runtimeError {
	return &runtimeError{at: at, rec: &ErrorRecord{Message: sprintf(format, args...), Category: category,
		ErrorID: id, ExceptionType: exType}}
}

const runtimeExType = "System.Management.Automation.RuntimeException"

func (st *sessionState) check(at int) error {
	if err := st.ctx.Err(); err != nil {
		return &runtimeError{at: at, halt: true, rec: &ErrorRecord{Message: "The pipeline has been stopped.",
			Category: "OperationStopped", ErrorID: "PipelineStopped",
			ExceptionType: "System.Management.Automation.PipelineStoppedException"}}
	}
	st.steps++
	if st.steps > maxSteps {
		e := rtErr(at, "OperationStopped", "ScriptTooLong", runtimeExType,
			"The script was stopped after %d statements: the lab's interpreter bounds how long a script may run.", maxSteps)
		e.halt = true
		return e
	}
	return nil
}

func limitErr(at int) error {
	return rtErr(at, "InvalidOperation", "ValueTooLarge", runtimeExType,
		"The value is larger than the lab's interpreter allows.")
}

// scope holds variables; & { } runs in a child scope, everything else in the current one.
type scope struct {
	vars   map[string]any
	parent *scope
}

func newScope(parent *scope) *scope { return &scope{vars: map[string]any{}, parent: parent} }

func normVarName(name string) string {
	n := strings.ToLower(name)
	for _, p := range []string{"script:", "global:", "local:", "private:", "variable:"} {
		n = strings.TrimPrefix(n, p)
	}
	return n
}

func (st *sessionState) getVar(name string) any {
	n := normVarName(name)
	switch n {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	case "?":
		return st.lastOK
	}
	if env, ok := strings.CutPrefix(n, "env:"); ok {
		for k, v := range st.env {
			if strings.EqualFold(k, env) {
				return v
			}
		}
		return nil
	}
	for sc := st.cur; sc != nil; sc = sc.parent {
		if v, ok := sc.vars[n]; ok {
			return v
		}
	}
	return nil
}

func (st *sessionState) setVar(name string, v any) {
	n := normVarName(name)
	switch n {
	case "null", "true", "false", "?":
		return
	}
	if env, ok := strings.CutPrefix(n, "env:"); ok {
		for k := range st.env {
			if strings.EqualFold(k, env) {
				delete(st.env, k)
			}
		}
		if v != nil && ToString(v) != "" {
			st.env[name[strings.IndexByte(name, ':')+1:]] = ToString(v)
		}
		return
	}
	if v == (void{}) {
		v = nil
	}
	st.cur.vars[n] = v
}

// pref reads a preference variable such as $ErrorActionPreference.
func (st *sessionState) pref(name string) string { return strings.ToLower(ToString(st.getVar(name))) }

// execBlock runs statements. Statement-terminating errors outside any try are
// reported and the next statement runs, as in PowerShell.
func (st *sessionState) execBlock(stmts []stmt, out func(any)) error {
	for _, s := range stmts {
		if err := st.check(s.stmtPos()); err != nil {
			return err
		}
		err := st.execStmt(s, out)
		var rt *runtimeError
		if errors.As(err, &rt) && rt.stmtOnly && st.tryDepth == 0 && st.pref("ErrorActionPreference") != "stop" {
			st.recordError(rt.rec)
			st.printError(rt.rec, rt.at, false)
			st.lastOK = false
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (st *sessionState) recordError(rec *ErrorRecord) {
	errs, _ := st.global.vars["error"].([]any)
	errs = append([]any{rec}, errs...)
	if len(errs) > 256 {
		errs = errs[:256]
	}
	st.global.vars["error"] = errs
}

// emitValue sends an expression's value down a pipeline: arrays by element.
func emitValue(out func(any), v any) {
	switch x := v.(type) {
	case void:
	case []any:
		for _, e := range x {
			out(e)
		}
	default:
		out(v)
	}
}

func (st *sessionState) execStmt(s stmt, out func(any)) error {
	switch s := s.(type) {
	case *pipelineStmt:
		return st.runPipeline(s, out)
	case *assignStmt:
		return st.assign(s)
	case *ifStmt:
		for i, c := range s.conds {
			v, err := st.stmtValue(c)
			if err != nil {
				return err
			}
			if truthy(v) {
				return st.execBlock(s.blocks[i], out)
			}
		}
		if s.hasEls {
			return st.execBlock(s.els, out)
		}
		return nil
	case *foreachStmt:
		coll, err := st.stmtValue(s.coll)
		if err != nil {
			return err
		}
		for _, item := range toArray(coll) {
			if err := st.check(s.at); err != nil {
				return err
			}
			st.setVar(s.varName, item)
			if stop, err := loopBody(st.execBlock(s.body, out)); stop || err != nil {
				return err
			}
		}
		return nil
	case *forStmt:
		if s.init != nil {
			if err := st.execStmt(s.init, func(any) {}); err != nil {
				return err
			}
		}
		for {
			if err := st.check(s.at); err != nil {
				return err
			}
			if s.cond != nil {
				v, err := st.stmtValue(s.cond)
				if err != nil {
					return err
				}
				if !truthy(v) {
					return nil
				}
			}
			if stop, err := loopBody(st.execBlock(s.body, out)); stop || err != nil {
				return err
			}
			if s.step != nil {
				if err := st.execStmt(s.step, func(any) {}); err != nil {
					return err
				}
			}
		}
	case *whileStmt:
		for {
			if err := st.check(s.at); err != nil {
				return err
			}
			v, err := st.stmtValue(s.cond)
			if err != nil {
				return err
			}
			if !truthy(v) {
				return nil
			}
			if stop, err := loopBody(st.execBlock(s.body, out)); stop || err != nil {
				return err
			}
		}
	case *doStmt:
		for {
			if err := st.check(s.at); err != nil {
				return err
			}
			if stop, err := loopBody(st.execBlock(s.body, out)); stop || err != nil {
				return err
			}
			v, err := st.stmtValue(s.cond)
			if err != nil {
				return err
			}
			if truthy(v) == s.until {
				return nil
			}
		}
	case *tryStmt:
		return st.execTry(s, out)
	case *flowStmt:
		return st.execFlow(s, out)
	}
	return nil
}

// loopBody interprets a loop body's result: break stops the loop, continue goes on.
func loopBody(err error) (stop bool, _ error) {
	var bf breakFlow
	if errors.As(err, &bf) {
		return !bf.cont, nil
	}
	return err != nil, err
}

func (st *sessionState) execTry(s *tryStmt, out func(any)) error {
	st.tryDepth++
	err := st.execBlock(s.body, out)
	st.tryDepth--
	var rt *runtimeError
	if errors.As(err, &rt) && !rt.halt {
		for _, c := range s.catches {
			if !catchMatches(c.types, rt.rec) {
				continue
			}
			old := st.getVar("_")
			st.setVar("_", rt.rec)
			err = st.execBlock(c.body, out)
			st.setVar("_", old)
			break
		}
	}
	if s.hasFinally {
		if ferr := st.execBlock(s.finally, out); ferr != nil {
			return ferr
		}
	}
	return err
}

func catchMatches(types []string, rec *ErrorRecord) bool {
	if len(types) == 0 {
		return true
	}
	ex := rec.ExceptionType
	if ex == "" {
		ex = runtimeExType
	}
	for _, t := range types {
		t = strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(t, "System."), "system."))
		switch {
		case t == "exception", t == "management.automation.runtimeexception" && true:
			return true
		case strings.EqualFold(t, strings.TrimPrefix(ex, "System.")), strings.EqualFold(t, shortTypeName(ex)):
			return true
		}
	}
	return false
}

func (st *sessionState) execFlow(s *flowStmt, out func(any)) error {
	var v any
	if s.value != nil {
		var err error
		if v, err = st.stmtValue(s.value); err != nil {
			return err
		}
	}
	switch s.kind {
	case "break":
		return breakFlow{}
	case "continue":
		return breakFlow{cont: true}
	case "return":
		if s.value != nil {
			emitValue(out, v)
		}
		return returnFlow{}
	case "exit":
		code := 0
		if s.value != nil {
			n, cerr := toInt(v, "System.Int32")
			if cerr != nil {
				return &runtimeError{at: s.at, rec: cerr}
			}
			code = n
		}
		return exitFlow{code: code}
	}
	// throw
	if rec, ok := v.(*ErrorRecord); ok {
		return &runtimeError{at: s.at, rec: rec}
	}
	msg := ToString(v)
	if s.value == nil || v == nil {
		msg = "ScriptHalted"
	}
	return &runtimeError{at: s.at, rec: &ErrorRecord{Message: msg, Category: "OperationStopped", ErrorID: msg,
		Target: v, ExceptionType: runtimeExType}}
}

// stmtValue runs a statement and returns its value: a lone expression's own value
// (so @() stays an empty array), a command pipeline's collected output.
func (st *sessionState) stmtValue(s stmt) (any, error) {
	if p, ok := s.(*pipelineStmt); ok && len(p.elems) == 1 {
		if e, ok := p.elems[0].(expr); ok {
			st.lastOK = true
			v, err := st.eval(e)
			if v == (void{}) {
				v = nil
			}
			return v, err
		}
	}
	if a, ok := s.(*assignStmt); ok {
		if err := st.assign(a); err != nil {
			return nil, err
		}
		return st.evalTargetValue(a.target)
	}
	var out []any
	err := st.execStmt(s, func(v any) { out = append(out, v) })
	return collect(out), err
}

func (st *sessionState) evalTargetValue(e expr) (any, error) {
	if c, ok := e.(*castExpr); ok {
		e = c.x
	}
	return st.eval(e)
}

func (st *sessionState) runPipeline(p *pipelineStmt, out func(any)) error {
	st.lastOK = true
	var input []any
	hasInput := false
	for i, el := range p.elems {
		var buf []any
		sink := out
		if i < len(p.elems)-1 {
			sink = func(v any) { buf = append(buf, v) }
		}
		switch el := el.(type) {
		case expr:
			v, err := st.eval(el)
			if err != nil {
				return err
			}
			emitValue(sink, v)
		case *commandNode:
			if err := st.runCommand(el, input, hasInput, sink); err != nil {
				return err
			}
		}
		input, hasInput = buf, true
	}
	return nil
}

func (st *sessionState) assign(s *assignStmt) error {
	v, err := st.stmtValue(s.value)
	if err != nil {
		return err
	}
	target := s.target
	if c, ok := target.(*castExpr); ok {
		if v, err = st.cast(c.typ, v, c.at); err != nil {
			return err
		}
		target = c.x
	}
	if s.op != "=" {
		old, err := st.eval(target)
		if err != nil {
			return err
		}
		if v, err = st.binary(string(s.op[0]), old, v, s.at); err != nil {
			return err
		}
	}
	return st.store(target, v, s.at)
}

func (st *sessionState) store(target expr, v any, at int) error {
	switch t := target.(type) {
	case *varExpr:
		st.setVar(t.name, v)
		return nil
	case *memberExpr:
		obj, err := st.eval(t.x)
		if err != nil {
			return err
		}
		name, err := st.memberName(t.name)
		if err != nil {
			return err
		}
		switch o := obj.(type) {
		case *Object:
			o.Set(name, v)
			return nil
		case *Hashtable:
			o.set(name, v)
			return nil
		}
		return rtErr(at, "InvalidOperation", "PropertyNotFound", runtimeExType,
			"Property '%s' cannot be found on this object; make sure it exists and is settable.", name)
	case *indexExpr:
		obj, err := st.eval(t.x)
		if err != nil {
			return err
		}
		idx, err := st.eval(t.index)
		if err != nil {
			return err
		}
		switch o := obj.(type) {
		case *Hashtable:
			o.set(idx, v)
			return nil
		case []any:
			n, cerr := toInt(idx, "System.Int32")
			if cerr != nil {
				return &runtimeError{at: at, rec: cerr}
			}
			if n < 0 {
				n += len(o)
			}
			if n < 0 || n >= len(o) {
				return rtErr(at, "InvalidOperation", "IndexOutOfRange", runtimeExType,
					"Array assignment to [%d] failed because index '%d' was out of range.", n, n)
			}
			o[n] = v
			return nil
		case nil:
			return rtErr(at, "InvalidOperation", "NullArray", runtimeExType, "Cannot index into a null array.")
		}
		return rtErr(at, "InvalidOperation", "CannotIndex", runtimeExType,
			"Unable to index into an object of type %s.", typeName(obj))
	}
	return rtErr(at, "InvalidOperation", "InvalidLeftHandSide", runtimeExType, "The assignment expression is not valid.")
}

func (st *sessionState) memberName(e expr) (string, error) {
	v, err := st.eval(e)
	return ToString(v), err
}

// eval evaluates an expression.
func (st *sessionState) eval(e expr) (any, error) {
	switch e := e.(type) {
	case *constExpr:
		return e.v, nil
	case *varExpr:
		return st.getVar(e.name), nil
	case *expandExpr:
		var b strings.Builder
		for _, part := range e.parts {
			v, err := st.eval(part)
			if err != nil {
				return nil, err
			}
			b.WriteString(ToString(v))
			if b.Len() > maxStringLen {
				return nil, limitErr(e.at)
			}
		}
		return b.String(), nil
	case *arrayExpr:
		arr := make([]any, 0, len(e.elems))
		for _, el := range e.elems {
			v, err := st.eval(el)
			if err != nil {
				return nil, err
			}
			if v == (void{}) {
				v = nil
			}
			arr = append(arr, v)
		}
		return arr, nil
	case *subExpr:
		var out []any
		err := st.execBlock(e.body, func(v any) { out = append(out, v) })
		if e.array {
			if out == nil {
				out = []any{}
			}
			return out, err
		}
		return collect(out), err
	case *parenExpr:
		if e.body == nil {
			return nil, nil
		}
		if a, ok := e.body.(*assignStmt); ok {
			if err := st.assign(a); err != nil {
				return nil, err
			}
			return st.evalTargetValue(a.target)
		}
		return st.stmtValue(e.body)
	case *hashExpr:
		h := &Hashtable{}
		for i, k := range e.keys {
			kv, err := st.eval(k)
			if err != nil {
				return nil, err
			}
			v, err := st.stmtValue(e.values[i])
			if err != nil {
				return nil, err
			}
			h.set(kv, v)
		}
		return h, nil
	case *blockExpr:
		return &ScriptBlock{Text: e.text, impl: e.body}, nil
	case *unaryExpr:
		return st.unary(e)
	case *binaryExpr:
		l, err := st.eval(e.l)
		if err != nil {
			return nil, err
		}
		switch e.op {
		case "and":
			if !truthy(l) {
				return false, nil
			}
			r, err := st.eval(e.r)
			return truthy(r), err
		case "or":
			if truthy(l) {
				return true, nil
			}
			r, err := st.eval(e.r)
			return truthy(r), err
		}
		r, err := st.eval(e.r)
		if err != nil {
			return nil, err
		}
		return st.binary(e.op, l, r, e.at)
	case *castExpr:
		v, err := st.eval(e.x)
		if err != nil {
			return nil, err
		}
		return st.cast(e.typ, v, e.at)
	case *typeExpr:
		if _, ok := knownType(e.typ); !ok {
			return nil, typeNotFound(e.typ, e.at)
		}
		return typeRef{name: e.typ}, nil
	case *memberExpr:
		x, err := st.eval(e.x)
		if err != nil {
			return nil, err
		}
		name, err := st.memberName(e.name)
		if err != nil {
			return nil, err
		}
		if e.static {
			return st.staticMember(x, name, e.at)
		}
		v, _ := getMember(x, name)
		return v, nil
	case *invokeExpr:
		x, err := st.eval(e.x)
		if err != nil {
			return nil, err
		}
		name, err := st.memberName(e.name)
		if err != nil {
			return nil, err
		}
		args := make([]any, len(e.args))
		for i, a := range e.args {
			if args[i], err = st.eval(a); err != nil {
				return nil, err
			}
		}
		if e.static {
			return st.callStatic(x, name, args, e.at)
		}
		return st.callMethod(x, name, args, e.at)
	case *indexExpr:
		x, err := st.eval(e.x)
		if err != nil {
			return nil, err
		}
		idx, err := st.eval(e.index)
		if err != nil {
			return nil, err
		}
		return index(x, idx, e.at)
	}
	return nil, nil
}

func index(x, idx any, at int) (any, error) {
	if arr, ok := idx.([]any); ok {
		var out []any
		for _, i := range arr {
			v, err := index(x, i, at)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	switch o := x.(type) {
	case nil:
		return nil, rtErr(at, "InvalidOperation", "NullArray", runtimeExType, "Cannot index into a null array.")
	case *Hashtable:
		v, _ := o.get(idx)
		return v, nil
	case *Object:
		if v, ok := o.Get(ToString(idx)); ok {
			return v, nil
		}
	}
	n, cerr := toInt(idx, "System.Int32")
	if cerr != nil {
		return nil, &runtimeError{at: at, rec: cerr}
	}
	switch o := x.(type) {
	case []any:
		if n < 0 {
			n += len(o)
		}
		if n < 0 || n >= len(o) {
			return nil, nil
		}
		return o[n], nil
	case string:
		rs := []rune(o)
		if n < 0 {
			n += len(rs)
		}
		if n < 0 || n >= len(rs) {
			return nil, nil
		}
		return string(rs[n]), nil
	}
	if n == 0 || n == -1 {
		return x, nil
	}
	return nil, nil
}

func (st *sessionState) unary(e *unaryExpr) (any, error) {
	switch e.op {
	case "pre++", "pre--", "post++", "post--":
		old, err := st.eval(e.x)
		if err != nil {
			return nil, err
		}
		op := string(e.op[len(e.op)-1])
		nv, err := st.binary(op, old, 1, e.at)
		if err != nil {
			return nil, err
		}
		if old == nil {
			nv, _ = st.binary(op, 0, 1, e.at)
		}
		if err := st.store(e.x, nv, e.at); err != nil {
			return nil, err
		}
		// As a statement, ++ and -- output nothing.
		return void{}, nil
	}
	v, err := st.eval(e.x)
	if err != nil {
		return nil, err
	}
	switch e.op {
	case "not":
		return !truthy(v), nil
	case "-":
		return st.binary("*", v, -1, e.at)
	case "+":
		if isNumber(v) {
			return v, nil
		}
		f, cerr := toFloat(v)
		if cerr != nil {
			return nil, &runtimeError{at: e.at, rec: cerr}
		}
		return normNum(f), nil
	case "bnot":
		n, cerr := toInt(v, "System.Int32")
		if cerr != nil {
			return nil, &runtimeError{at: e.at, rec: cerr}
		}
		return ^n, nil
	case "join":
		return joinValues(v, ""), nil
	case "split":
		var out []any
		for _, item := range toArray(v) {
			for _, f := range strings.Fields(ToString(item)) {
				out = append(out, f)
			}
			if len(out) > maxItems {
				return nil, limitErr(e.at)
			}
		}
		return out, nil
	}
	return nil, nil
}

func normNum(f float64) any {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int(f)
	}
	return f
}

func joinValues(v any, sep string) string {
	var b strings.Builder
	for i, e := range toArray(v) {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(ToString(e))
		if b.Len() > maxStringLen {
			break
		}
	}
	return b.String()
}

// binary applies a binary operator with PowerShell's conversions: the left operand's
// type decides; comparisons on an array filter it.
func (st *sessionState) binary(op string, l, r any, at int) (any, error) {
	switch op {
	case "+", "-", "*", "/", "%":
		return arith(op, l, r, at)
	case "..":
		a, cerr := toInt(l, "System.Int32")
		if cerr != nil {
			return nil, &runtimeError{at: at, rec: cerr}
		}
		b, cerr := toInt(r, "System.Int32")
		if cerr != nil {
			return nil, &runtimeError{at: at, rec: cerr}
		}
		if abs(b-a) >= maxItems {
			return nil, limitErr(at)
		}
		var out []any
		step := 1
		if b < a {
			step = -1
		}
		for i := a; ; i += step {
			out = append(out, i)
			if i == b {
				break
			}
		}
		return out, nil
	case "f":
		return formatOperator(ToString(l), toArray(r)), nil
	case "xor":
		return truthy(l) != truthy(r), nil
	case "band", "bor", "bxor":
		a, cerr := toInt(l, "System.Int32")
		if cerr != nil {
			return nil, &runtimeError{at: at, rec: cerr}
		}
		b, cerr := toInt(r, "System.Int32")
		if cerr != nil {
			return nil, &runtimeError{at: at, rec: cerr}
		}
		switch op {
		case "band":
			return a & b, nil
		case "bor":
			return a | b, nil
		}
		return a ^ b, nil
	case "is", "isnot":
		t, ok := r.(typeRef)
		if !ok {
			return nil, rtErr(at, "InvalidOperation", "RuntimeException", runtimeExType, "The right operand of '-%s' must be a type.", op)
		}
		is := isType(l, t.name)
		return is == (op == "is"), nil
	case "as":
		t, ok := r.(typeRef)
		if !ok {
			return nil, nil
		}
		v, err := st.cast(t.name, l, at)
		if err != nil {
			return nil, nil
		}
		return v, nil
	}
	cs := false
	base := op
	if len(op) > 2 && (op[0] == 'c' || op[0] == 'i') && compareOps[op[1:]] {
		cs, base = op[0] == 'c', op[1:]
	}
	switch base {
	case "join":
		j := joinValues(l, ToString(r))
		if len(j) > maxStringLen {
			return nil, limitErr(at)
		}
		return j, nil
	case "replace":
		return st.replaceOp(l, r, cs, at)
	case "split":
		return st.splitOp(l, r, cs, at)
	case "contains", "notcontains":
		found := false
		for _, e := range toArray(l) {
			if equalValues(e, r, cs) {
				found = true
				break
			}
		}
		if l != nil {
			if _, isArr := l.([]any); !isArr && !found {
				found = equalValues(l, r, cs)
			}
		}
		return found == (base == "contains"), nil
	}
	if arr, ok := l.([]any); ok {
		var out []any
		for _, e := range arr {
			m, err := st.compare(base, e, r, cs, at, false)
			if err != nil {
				return nil, err
			}
			if m {
				out = append(out, e)
			}
		}
		if out == nil {
			out = []any{}
		}
		return out, nil
	}
	return st.compare(base, l, r, cs, at, true)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func (st *sessionState) compare(op string, l, r any, cs bool, at int, setMatches bool) (bool, error) {
	switch op {
	case "eq":
		return equalValues(l, r, cs), nil
	case "ne":
		return !equalValues(l, r, cs), nil
	case "gt", "ge", "lt", "le":
		c, ok := compareValues(l, r, cs)
		if !ok {
			return false, rtErr(at, "InvalidOperation", "ComparisonFailure", runtimeExType,
				"Could not compare \"%s\" to \"%s\".", ToString(l), ToString(r))
		}
		switch op {
		case "gt":
			return c > 0, nil
		case "ge":
			return c >= 0, nil
		case "lt":
			return c < 0, nil
		}
		return c <= 0, nil
	case "like", "notlike":
		m := wildcardMatch(ToString(r), ToString(l), cs)
		return m == (op == "like"), nil
	case "match", "notmatch":
		re, err := compileRegex(ToString(r), cs, at)
		if err != nil {
			return false, err
		}
		s := ToString(l)
		idx := re.FindStringSubmatchIndex(s)
		if idx != nil && setMatches && op == "match" {
			h := &Hashtable{}
			names := re.SubexpNames()
			for g := 0; g*2 < len(idx); g++ {
				if idx[2*g] < 0 {
					continue
				}
				key := any(g)
				if names[g] != "" {
					key = names[g]
				}
				h.set(key, s[idx[2*g]:idx[2*g+1]])
			}
			st.setVar("matches", h)
		}
		return (idx != nil) == (op == "match"), nil
	}
	return false, rtErr(at, "InvalidOperation", "UnknownOperator", runtimeExType, "The operator '-%s' is not supported.", op)
}

func compileRegex(pat string, cs bool, at int) (*regexp.Regexp, error) {
	if !cs {
		pat = "(?i)" + pat
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, rtErr(at, "InvalidOperation", "InvalidRegularExpression", runtimeExType,
			"Invalid regular expression pattern: %s.", pat)
	}
	return re, nil
}

func (st *sessionState) replaceOp(l, r any, cs bool, at int) (any, error) {
	args := toArray(r)
	if _, ok := r.([]any); !ok {
		args = []any{r}
	}
	if len(args) == 0 || len(args) > 2 {
		return nil, rtErr(at, "InvalidOperation", "BadReplaceArgument", runtimeExType,
			"The -replace operator only permits 2 elements on the right-hand side, not %d", len(args))
	}
	re, err := compileRegex(ToString(args[0]), cs, at)
	if err != nil {
		return nil, err
	}
	repl := ""
	if len(args) == 2 {
		repl = dotnetReplacement(ToString(args[1]))
	}
	for _, e := range toArray(l) {
		// Every position may match an empty pattern; bound the result before building it.
		if n := len(ToString(e)); (n+1)*(len(repl)+1) > maxStringLen && len(repl) > 0 {
			return nil, limitErr(at)
		}
	}
	if arr, ok := l.([]any); ok {
		out := make([]any, len(arr))
		for i, e := range arr {
			out[i] = re.ReplaceAllString(ToString(e), repl)
		}
		return out, nil
	}
	return re.ReplaceAllString(ToString(l), repl), nil
}

// dotnetReplacement turns .NET's $1, ${name}, $$ and $& into Go's template syntax.
func dotnetReplacement(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		n := s[i+1]
		switch {
		case n == '$':
			b.WriteString("$$")
			i++
		case n == '&':
			b.WriteString("${0}")
			i++
		case n >= '0' && n <= '9':
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			b.WriteString("${" + s[i+1:j] + "}")
			i = j - 1
		case n == '{':
			j := strings.IndexByte(s[i:], '}')
			if j < 0 {
				b.WriteString("$$")
				continue
			}
			b.WriteString(s[i : i+j+1])
			i += j
		default:
			b.WriteString("$$")
		}
	}
	return b.String()
}

func (st *sessionState) splitOp(l, r any, cs bool, at int) (any, error) {
	args := []any{r}
	if a, ok := r.([]any); ok {
		args = a
	}
	if len(args) == 0 {
		return nil, rtErr(at, "InvalidOperation", "BadSplitArgument", runtimeExType, "The -split operator needs a delimiter.")
	}
	if sb, ok := args[0].(*ScriptBlock); ok {
		_ = sb
		return nil, rtErr(at, "InvalidOperation", "BadSplitArgument", runtimeExType, "A script block delimiter is not supported.")
	}
	re, err := compileRegex(ToString(args[0]), cs, at)
	if err != nil {
		return nil, err
	}
	limit := -1
	if len(args) > 1 {
		n, cerr := toInt(args[1], "System.Int32")
		if cerr != nil {
			return nil, &runtimeError{at: at, rec: cerr}
		}
		if n > 0 {
			limit = n
		}
	}
	if limit < 0 || limit > maxItems {
		limit = maxItems + 1
	}
	var out []any
	for _, item := range toArray(l) {
		for _, part := range re.Split(ToString(item), limit) {
			out = append(out, part)
		}
		if len(out) > maxItems {
			return nil, limitErr(at)
		}
	}
	return out, nil
}

func arith(op string, l, r any, at int) (any, error) {
	switch x := l.(type) {
	case nil:
		if op == "+" {
			return r, nil
		}
		l = 0
	case string:
		switch op {
		case "+":
			s := x + ToString(r)
			if utf8.RuneCountInString(s) > maxStringLen {
				return nil, limitErr(at)
			}
			return s, nil
		case "*":
			n, cerr := toInt(r, "System.Int32")
			if cerr != nil {
				return nil, &runtimeError{at: at, rec: cerr}
			}
			if n < 0 || n*len(x) > maxStringLen || (len(x) > 0 && n > maxStringLen) {
				return nil, limitErr(at)
			}
			return strings.Repeat(x, n), nil
		}
		if _, ok := parseNumber(strings.TrimSpace(x)); !ok {
			return nil, &runtimeError{at: at, rec: methodNotFound(x, "op_"+opName(op))}
		}
	case []any:
		switch op {
		case "+":
			add := toArray(r)
			if _, ok := r.([]any); !ok {
				add = []any{r}
			}
			if len(x)+len(add) > maxItems {
				return nil, limitErr(at)
			}
			out := make([]any, 0, len(x)+len(add))
			return append(append(out, x...), add...), nil
		case "*":
			n, cerr := toInt(r, "System.Int32")
			if cerr != nil {
				return nil, &runtimeError{at: at, rec: cerr}
			}
			if n < 0 || n*len(x) > maxItems || (len(x) > 0 && n > maxItems) {
				return nil, limitErr(at)
			}
			var out []any
			for range n {
				out = append(out, x...)
			}
			return out, nil
		}
		return nil, &runtimeError{at: at, rec: methodNotFound(l, "op_"+opName(op))}
	case *Hashtable:
		if h2, ok := r.(*Hashtable); ok && op == "+" {
			out := &Hashtable{Keys: append([]string(nil), x.Keys...), Values: append([]any(nil), x.Values...)}
			for i, k := range h2.Keys {
				out.set(k, h2.Values[i])
			}
			return out, nil
		}
		return nil, &runtimeError{at: at, rec: methodNotFound(l, "op_"+opName(op))}
	case time.Time:
		return nil, &runtimeError{at: at, rec: methodNotFound(l, "op_"+opName(op))}
	case *Object, *ScriptBlock, *ErrorRecord:
		return nil, &runtimeError{at: at, rec: methodNotFound(l, "op_"+opName(op))}
	}
	li, lInt := l.(int)
	if b, ok := l.(bool); ok {
		li, lInt = 0, true
		if b {
			li = 1
		}
	}
	var ri int
	rInt := false
	switch y := r.(type) {
	case int:
		ri, rInt = y, true
	case nil:
		ri, rInt = 0, true
	case bool:
		rInt = true
		if y {
			ri = 1
		}
	case string:
		n, ok := parseNumber(strings.TrimSpace(y))
		if strings.TrimSpace(y) == "" {
			n, ok = 0, true
		}
		if !ok {
			target := "System.Int32"
			if !lInt {
				target = "System.Double"
			}
			return nil, &runtimeError{at: at, rec: convertError(y, target, badFormat)}
		}
		ri, rInt = n.(int)
		if !rInt {
			r = n
		}
	}
	if lInt && rInt {
		switch op {
		case "+":
			return li + ri, nil
		case "-":
			return li - ri, nil
		case "*":
			return li * ri, nil
		case "/":
			if ri == 0 {
				return nil, divByZero(at)
			}
			if li%ri == 0 {
				return li / ri, nil
			}
			return float64(li) / float64(ri), nil
		case "%":
			if ri == 0 {
				return nil, divByZero(at)
			}
			return li % ri, nil
		}
	}
	a, cerr := toFloat(l)
	if cerr != nil {
		return nil, &runtimeError{at: at, rec: cerr}
	}
	b, cerr := toFloat(r)
	if cerr != nil {
		return nil, &runtimeError{at: at, rec: cerr}
	}
	switch op {
	case "+":
		return a + b, nil
	case "-":
		return a - b, nil
	case "*":
		return a * b, nil
	case "/":
		if b == 0 {
			return nil, divByZero(at)
		}
		return a / b, nil
	}
	if b == 0 {
		return nil, divByZero(at)
	}
	return math.Mod(a, b), nil
}

func opName(op string) string {
	switch op {
	case "+":
		return "Addition"
	case "-":
		return "Subtraction"
	case "*":
		return "Multiply"
	case "/":
		return "Division"
	}
	return "Modulus"
}

func divByZero(at int) error {
	return rtErr(at, "NotSpecified", "RuntimeException", runtimeExType, "Attempted to divide by zero.")
}

func methodNotFound(v any, name string) *ErrorRecord {
	return &ErrorRecord{Message: sprintf("Method invocation failed because [%s] doesn't contain a method named '%s'.", typeName(v), name),
		Category: "InvalidOperation", ErrorID: "MethodNotFound", ExceptionType: runtimeExType}
}

// wildcardMatch is -like: * any run, ? one character, [abc] or [a-z] a set, `x a
// literal x; the whole string must match. It backtracks only to the last *, so
// it runs in linear space whatever the input.
func wildcardMatch(pattern, s string, cs bool) bool {
	if !cs {
		pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	}
	p, t := []rune(pattern), []rune(s)
	if len(p)*len(t) > 1<<20 {
		// Backtracking is quadratic at worst; RE2 is linear for long inputs.
		return wildcardRegexp(p).MatchString(s)
	}
	// one reports whether the element at p[pi] matches r, and its length in p.
	one := func(pi int, r rune) (bool, int) {
		switch {
		case p[pi] == '?':
			return true, 1
		case p[pi] == '`' && pi+1 < len(p):
			return p[pi+1] == r, 2
		case p[pi] == '[':
			end := pi + 1
			for end < len(p) && p[end] != ']' {
				end++
			}
			if end == len(p) {
				return r == '[', 1
			}
			set, ok := p[pi+1:end], false
			for k := 0; k < len(set); k++ {
				if k+2 < len(set) && set[k+1] == '-' {
					ok = ok || (r >= set[k] && r <= set[k+2])
					k += 2
				} else if set[k] == r {
					ok = true
				}
			}
			return ok, end - pi + 1
		}
		return p[pi] == r, 1
	}
	pi, ti, starP, starT := 0, 0, -1, 0
	for ti < len(t) {
		if pi < len(p) && p[pi] == '*' {
			starP, starT = pi, ti
			pi++
			continue
		}
		if pi < len(p) {
			if ok, n := one(pi, t[ti]); ok {
				pi += n
				ti++
				continue
			}
		}
		if starP < 0 {
			return false
		}
		starT++
		pi, ti = starP+1, starT
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

func wildcardRegexp(p []rune) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?s)^")
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '*':
			b.WriteString(".*")
		case c == '?':
			b.WriteString(".")
		case c == '`' && i+1 < len(p):
			i++
			b.WriteString(regexp.QuoteMeta(string(p[i])))
		case c == '[':
			end := i + 1
			for end < len(p) && p[end] != ']' {
				end++
			}
			if end == len(p) || end == i+1 {
				b.WriteString(regexp.QuoteMeta("["))
				continue
			}
			b.WriteByte('[')
			for _, r := range p[i+1 : end] {
				if r == '-' {
					b.WriteByte('-')
				} else {
					b.WriteString(regexp.QuoteMeta(string(r)))
				}
			}
			b.WriteByte(']')
			i = end
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return regexp.MustCompile(`^\b\B$`) // matches nothing
	}
	return re
}

// invokeBlock runs a script block with $_ set to under, sending output to out.
// child runs it in a new scope, as & does; otherwise it shares the caller's.
func (st *sessionState) invokeBlock(sb *ScriptBlock, under any, args []any, child bool, out func(any), at int) error {
	body, _ := sb.impl.([]stmt)
	st.callDepth++
	defer func() { st.callDepth-- }()
	if st.callDepth > maxCallDepth {
		return rtErr(at, "InvalidOperation", "CallDepthOverflow", "System.Management.Automation.ScriptCallDepthException",
			"The script failed due to call depth overflow.  The call depth reached %d and the maximum is %d.", st.callDepth, maxCallDepth)
	}
	saved := st.cur
	if child {
		st.cur = newScope(st.cur)
		st.cur.vars["args"] = args
	}
	old, hadOld := st.cur.vars["_"]
	st.cur.vars["_"] = under
	err := st.execBlock(body, out)
	if hadOld {
		st.cur.vars["_"] = old
	} else {
		delete(st.cur.vars, "_")
	}
	st.cur = saved
	if _, ok := err.(returnFlow); ok {
		return nil
	}
	return err
}

// blockValue runs a script block for its collected value (Where-Object, calculated properties).
func (st *sessionState) blockValue(sb *ScriptBlock, under any, at int) (any, error) {
	var out []any
	err := st.invokeBlock(sb, under, nil, false, func(v any) { out = append(out, v) }, at)
	return collect(out), err
}

func noCtx(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}
