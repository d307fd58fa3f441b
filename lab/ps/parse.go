package ps

import (
	"strings"
	"unicode"
)

const eof = -1

// maxNesting bounds how deep blocks and expressions may nest, so that a hostile
// or fuzzed script cannot exhaust the stack of the parser or the evaluator.
const maxNesting = 200

// parseError is a syntax error, reported as PowerShell 2.0 reports a ParseException.
type parseError struct {
	msg    string
	id     string
	at     int    // offset the "<<<<" marker follows
	target string // CategoryInfo target, the offending token
}

type parser struct {
	src     []rune
	i       int
	depth   int
	noComma bool // inside method-call arguments, where ',' separates arguments
}

func isSingleQuote(r rune) bool { return r == '\'' || (r >= '\u2018' && r <= '\u201B') }
func isDoubleQuote(r rune) bool { return r == '"' || (r >= '\u201C' && r <= '\u201E') }
func isQuote(r rune) bool       { return isSingleQuote(r) || isDoubleQuote(r) }
func isDash(r rune) bool        { return r == '-' || (r >= '\u2013' && r <= '\u2015') }
func isSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\r' || r == '\f' || r == '\v' || r == '\u00a0' || r == '\ufeff'
}
func isNameChar(r rune) bool {
	return r == '_' || r == '?' || unicode.IsLetter(r) || unicode.IsDigit(r)
}
func isDigit(r rune) bool { return r >= '0' && r <= '9' }

// parseScript parses a whole script. It never panics: parser failures travel as
// panics of *parseError inside the parser and are recovered here.
func parseScript(src string) (body []stmt, perr *parseError) {
	p := &parser{src: []rune(src)}
	defer func() {
		if r := recover(); r != nil {
			pe, ok := r.(*parseError)
			if !ok {
				panic(r)
			}
			body, perr = nil, pe
		}
	}()
	body = p.statements(eof, 0)
	return body, nil
}

func (p *parser) fail(at int, id, format string, args ...any) {
	panic(&parseError{msg: sprintf(format, args...), id: id, at: at})
}

func (p *parser) peek() rune { return p.peekAt(0) }

func (p *parser) peekAt(k int) rune {
	if p.i+k < len(p.src) && p.i+k >= 0 {
		return p.src[p.i+k]
	}
	return eof
}

func (p *parser) enter() {
	p.depth++
	if p.depth > maxNesting {
		p.fail(p.i, "NestingTooDeep", "The script is nested too deeply to be parsed.")
	}
}

func (p *parser) leave() { p.depth-- }

// skipWS skips blanks, comments and backtick line continuations, but not newlines.
func (p *parser) skipWS() {
	for {
		c := p.peek()
		switch {
		case isSpace(c):
			p.i++
		case c == '`' && (p.peekAt(1) == '\n' || (p.peekAt(1) == '\r' && p.peekAt(2) == '\n')):
			p.i += 2
			if p.peek() == '\n' {
				p.i++
			}
		case c == '#':
			for p.peek() != eof && p.peek() != '\n' {
				p.i++
			}
		case c == '<' && p.peekAt(1) == '#':
			p.i += 2
			for p.peek() != eof && !(p.peek() == '#' && p.peekAt(1) == '>') {
				p.i++
			}
			if p.peek() != eof {
				p.i += 2
			}
		default:
			return
		}
	}
}

func (p *parser) skipWSNL() {
	for {
		p.skipWS()
		if p.peek() != '\n' {
			return
		}
		p.i++
	}
}

// tokenText is the token at the cursor, for "Unexpected token" messages; it
// advances past it so the marker lands after the token, as PowerShell's does.
func (p *parser) tokenText() string {
	start := p.i
	c := p.peek()
	switch {
	case c == eof:
		return ""
	case isQuote(c):
		p.i++
		for p.peek() != eof && !isQuote(p.peek()) && p.peek() != '\n' {
			p.i++
		}
		if p.peek() != eof && p.peek() != '\n' {
			p.i++
		}
	case strings.ContainsRune("(){}[],;|&=", c):
		p.i++
	default:
		for c := p.peek(); c != eof && !isSpace(c) && c != '\n' && !strings.ContainsRune("(){}[],;|&='\"", c); c = p.peek() {
			p.i++
		}
		if p.i == start {
			p.i++
		}
	}
	return string(p.src[start:p.i])
}

func (p *parser) unexpected() {
	t := p.tokenText()
	panic(&parseError{msg: "Unexpected token '" + t + "' in expression or statement.", id: "UnexpectedToken", at: p.i, target: t})
}

// statements parses a statement list up to end ('}' or ')', not consumed) or EOF.
// open is where the enclosing bracket was opened, for "Missing closing" errors.
func (p *parser) statements(end rune, open int) []stmt {
	p.enter()
	defer p.leave()
	// Commas inside a nested statement list build arrays again, even within method arguments.
	saveComma := p.noComma
	p.noComma = false
	defer func() { p.noComma = saveComma }()
	var list []stmt
	for {
		p.skipWSNL()
		for p.peek() == ';' {
			p.i++
			p.skipWSNL()
		}
		c := p.peek()
		if c == end {
			return list
		}
		switch {
		case c == eof:
			if end == '}' {
				p.fail(open, "MissingEndCurlyBrace", "Missing closing '}' in statement block.")
			}
			p.fail(open, "MissingEndParenthesisInSubexpression", "Missing closing ')' in subexpression.")
		case c == '}' || c == ')':
			p.unexpected()
		}
		list = append(list, p.statement())
		p.skipWS()
		c = p.peek()
		if c != '\n' && c != ';' && c != end && c != eof {
			p.unexpected()
		}
	}
}

// keyword returns the lower-cased keyword at the cursor, or "".
func (p *parser) keyword() string {
	j := p.i
	for j < len(p.src) && (p.src[j] >= 'a' && p.src[j] <= 'z' || p.src[j] >= 'A' && p.src[j] <= 'Z') {
		j++
	}
	if j == p.i {
		return ""
	}
	if j < len(p.src) {
		c := p.src[j]
		if !(isSpace(c) || c == '\n' || c == '(' || c == '{' || c == ';' || c == '}' || c == ')' || c == '$' || isQuote(c)) {
			return ""
		}
	}
	w := strings.ToLower(string(p.src[p.i:j]))
	switch w {
	case "if", "elseif", "else", "foreach", "for", "while", "do", "until", "try", "catch", "finally",
		"throw", "exit", "return", "break", "continue", "function", "filter", "param", "trap", "switch", "in":
		return w
	}
	return ""
}

func (p *parser) statement() stmt {
	start := p.i
	kw := p.keyword()
	if kw != "" {
		p.i += len(kw)
	}
	at := p.i
	switch kw {
	case "":
		return p.pipelineOrAssign()
	case "if":
		return p.ifStatement(at)
	case "foreach":
		return p.foreachStatement(at)
	case "for":
		return p.forStatement(at)
	case "while":
		cond := p.condition("while")
		return &whileStmt{at: at, cond: cond, body: p.block("Missing statement body in while loop.", "MissingLoopStatement")}
	case "do":
		body := p.block("Missing statement body in do loop.", "MissingLoopStatement")
		p.skipWSNL()
		w := p.keyword()
		if w != "while" && w != "until" {
			p.fail(p.i, "MissingWhileOrUntilInDoWhile", "Missing while or until keyword in do loop.")
		}
		p.i += len(w)
		return &doStmt{at: at, body: body, cond: p.condition(w), until: w == "until"}
	case "try":
		return p.tryStatement(at)
	case "throw", "exit", "return":
		p.skipWS()
		var v stmt
		if c := p.peek(); c != eof && c != '\n' && c != ';' && c != '}' && c != ')' {
			v = p.pipelineOrAssign()
		}
		return &flowStmt{at: at, kind: kw, value: v}
	case "break", "continue":
		p.skipWS()
		// A loop label may follow; labels are not supported, so it is read and ignored.
		for c := p.peek(); c != eof && (unicode.IsLetter(c) || isDigit(c) || c == '_'); c = p.peek() {
			p.i++
		}
		return &flowStmt{at: at, kind: kw}
	case "function", "filter", "param", "trap", "switch":
		p.fail(at, "UnsupportedStatement", "The '%s' statement is not supported by this host.", kw)
	}
	p.i = start
	p.unexpected()
	return nil
}

// condition parses "( pipeline )" after if/while/until/elseif.
func (p *parser) condition(kw string) stmt {
	p.skipWS()
	if p.peek() != '(' {
		p.fail(p.i, "MissingOpenParenthesisAfterKeyword", "Missing opening '(' after keyword '%s'.", kw)
	}
	p.i++
	p.skipWSNL()
	if p.peek() == ')' {
		p.fail(p.i, "MissingExpressionAfterKeyword", "Missing expression after '%s ('.", kw)
	}
	cond := p.pipelineOrAssign()
	p.skipWSNL()
	if p.peek() != ')' {
		p.fail(p.i, "MissingEndParenthesisAfterStatement", "Missing closing ')' after expression in '%s' statement.", kw)
	}
	p.i++
	return cond
}

// block parses "{ statements }".
func (p *parser) block(missing, id string) []stmt {
	p.skipWSNL()
	if p.peek() != '{' {
		p.fail(p.i, id, "%s", missing)
	}
	p.i++
	body := p.statements('}', p.i)
	p.i++
	return body
}

func (p *parser) ifStatement(at int) stmt {
	s := &ifStmt{at: at}
	kw := "if"
	for {
		s.conds = append(s.conds, p.condition(kw))
		s.blocks = append(s.blocks, p.block("Missing statement block after "+kw+" ( condition ).", "MissingStatementBlock"))
		save := p.i
		p.skipWSNL()
		switch p.keyword() {
		case "elseif":
			p.i += len("elseif")
			kw = "elseif"
			continue
		case "else":
			p.i += len("else")
			s.els = p.block("Missing statement block after 'else' keyword.", "MissingStatementBlockAfterElse")
			s.hasEls = true
			return s
		}
		p.i = save
		return s
	}
}

func (p *parser) foreachStatement(at int) stmt {
	p.skipWS()
	if p.peek() != '(' {
		p.fail(p.i, "MissingOpenParenthesisAfterKeyword", "Missing opening '(' after keyword 'foreach'.")
	}
	p.i++
	p.skipWSNL()
	if p.peek() != '$' {
		p.fail(p.i, "MissingVariableNameAfterForeach", "Missing variable name after foreach.")
	}
	v, ok := p.variable().(*varExpr)
	if !ok {
		p.fail(p.i, "MissingVariableNameAfterForeach", "Missing variable name after foreach.")
	}
	p.skipWSNL()
	if p.keyword() != "in" {
		p.fail(p.i, "MissingInInForeach", "Missing 'in' after variable in foreach loop.")
	}
	p.i += 2
	p.skipWSNL()
	coll := p.pipelineOrAssign()
	p.skipWSNL()
	if p.peek() != ')' {
		p.fail(p.i, "MissingEndParenthesisAfterForeach", "Missing closing ')' after expression in 'foreach' statement.")
	}
	p.i++
	body := p.block("Missing statement body in foreach loop.", "MissingForeachStatement")
	return &foreachStmt{at: at, varName: v.name, coll: coll, body: body}
}

func (p *parser) forStatement(at int) stmt {
	p.skipWS()
	if p.peek() != '(' {
		p.fail(p.i, "MissingOpenParenthesisAfterKeyword", "Missing opening '(' after keyword 'for'.")
	}
	p.i++
	s := &forStmt{at: at}
	parts := []*stmt{&s.init, &s.cond, &s.step}
	for n, part := range parts {
		p.skipWSNL()
		if c := p.peek(); c != ';' && c != ')' {
			*part = p.pipelineOrAssign()
			p.skipWSNL()
		}
		c := p.peek()
		if n < 2 && c == ';' {
			p.i++
			continue
		}
		if c != ')' {
			p.fail(p.i, "MissingEndParenthesisAfterFor", "Missing closing ')' after expression in 'for' statement.")
		}
		p.i++
		break
	}
	s.body = p.block("Missing statement body in for loop.", "MissingLoopStatement")
	return s
}

func (p *parser) tryStatement(at int) stmt {
	s := &tryStmt{at: at}
	s.body = p.block("Missing statement block after 'try'.", "MissingTryStatementBlock")
	for {
		save := p.i
		p.skipWSNL()
		switch p.keyword() {
		case "catch":
			p.i += len("catch")
			var c catchClause
			p.skipWS()
			for p.peek() == '[' {
				c.types = append(c.types, p.typeLiteral())
				p.skipWS()
				if p.peek() == ',' {
					p.i++
					p.skipWSNL()
				}
			}
			c.body = p.block("Missing statement block after 'catch'.", "MissingCatchHandlerBlock")
			s.catches = append(s.catches, c)
			continue
		case "finally":
			p.i += len("finally")
			s.finally = p.block("Missing statement block after 'finally'.", "MissingFinallyStatementBlock")
			s.hasFinally = true
		default:
			p.i = save
		}
		break
	}
	if len(s.catches) == 0 && !s.hasFinally {
		p.fail(p.i, "MissingCatchOrFinally", "The Try statement is missing its Catch or Finally block.")
	}
	return s
}

func isAssignable(e expr) bool {
	switch x := e.(type) {
	case *varExpr, *memberExpr, *indexExpr:
		return true
	case *castExpr:
		return isAssignable(x.x)
	}
	return false
}

// pipelineOrAssign parses "$x = ..." (and +=, -=, ...) or a pipeline.
func (p *parser) pipelineOrAssign() stmt {
	p.enter()
	defer p.leave()
	if c := p.peek(); c == '$' || c == '[' {
		save := p.i
		saveComma := p.noComma
		p.noComma = true
		e := p.unary()
		p.noComma = saveComma
		p.skipWS()
		op := ""
		switch c := p.peek(); {
		case c == '=' && p.peekAt(1) != '=':
			op = "="
		case (c == '+' || isDash(c) || c == '*' || c == '/' || c == '%') && p.peekAt(1) == '=':
			op = string(c) + "="
			if isDash(c) {
				op = "-="
			}
		}
		if op != "" && e != nil {
			if !isAssignable(e) {
				p.fail(p.i, "InvalidLeftHandSide", "The assignment expression is not valid. The input to an assignment operator must be an object that is able to accept assignments, such as a variable or a property.")
			}
			p.i += len([]rune(op))
			at := p.i
			p.skipWSNL()
			if c := p.peek(); c == eof || c == ';' || c == '}' || c == ')' {
				p.fail(at, "ExpectedValueExpression", "You must provide a value expression on the right-hand side of the '%s' operator.", op)
			}
			return &assignStmt{at: at, target: e, op: op, value: p.pipelineOrAssign()}
		}
		p.i = save
	}
	return p.pipeline()
}

func (p *parser) pipeline() stmt {
	s := &pipelineStmt{at: p.i}
	for {
		p.skipWS()
		s.elems = append(s.elems, p.pipelineElement(len(s.elems) == 0))
		p.skipWS()
		if p.peek() != '|' {
			return s
		}
		p.i++
		at := p.i
		p.skipWSNL()
		if c := p.peek(); c == eof || c == ';' || c == '|' || c == '}' || c == ')' {
			p.fail(at, "EmptyPipeElement", "Empty pipe element is not allowed.")
		}
	}
}

func isCommandStart(c rune) bool {
	return unicode.IsLetter(c) || c == '_' || c == '\\' || c == '/' || c == '~' || c == '?' || c == '%' || c == '*'
}

func (p *parser) pipelineElement(first bool) any {
	c := p.peek()
	switch {
	case c == '&' || (c == '.' && (isSpace(p.peekAt(1)) || p.peekAt(1) == '(' || p.peekAt(1) == '$' || p.peekAt(1) == '{' || isQuote(p.peekAt(1)))):
		p.i++
		p.skipWS()
		cmd := &commandNode{invoke: string(c)}
		if c := p.peek(); c == eof || c == '\n' || c == ';' || c == '|' || c == ')' || c == '}' {
			p.fail(p.i, "MissingExpression", "Missing expression after '%c'.", cmd.invoke[0])
		}
		if isQuote(p.peek()) || strings.ContainsRune("$({@", p.peek()) {
			cmd.target = p.postfix(p.primary())
		} else {
			start := p.i
			cmd.target = &constExpr{at: p.i, v: p.genericToken()}
			if p.i == start {
				p.unexpected()
			}
		}
		cmd.at = p.i
		cmd.args = p.commandArgs()
		return cmd
	case isCommandStart(c) || (c == '.' && !isDigit(p.peekAt(1))):
		cmd := &commandNode{name: p.genericToken()}
		cmd.at = p.i
		cmd.args = p.commandArgs()
		return cmd
	}
	if !first {
		at := p.i
		p.tokenText()
		p.fail(at, "ExpressionsMustBeFirstInPipeline", "Expressions are only allowed as the first element of a pipeline.")
	}
	e := p.expression()
	if e == nil {
		p.unexpected()
	}
	return e
}

func isArgEnd(c rune) bool {
	return c == eof || c == '\n' || c == ';' || c == '|' || c == ')' || c == '}' || c == '&'
}

func (p *parser) commandArgs() []argNode {
	var args []argNode
	for {
		p.skipWS()
		c := p.peek()
		if isArgEnd(c) {
			return args
		}
		if isDash(c) && (unicode.IsLetter(p.peekAt(1)) || p.peekAt(1) == '_' || p.peekAt(1) == '?') {
			start := p.i
			p.i++
			for isNameChar(p.peek()) || isDash(p.peek()) {
				p.i++
			}
			a := argNode{param: string(p.src[start+1 : p.i])}
			if p.peek() == ':' {
				p.i++
				a.colon = true
				a.at = p.i
				p.skipWS()
				if !isArgEnd(p.peek()) {
					a.value = p.argValue()
				}
			}
			a.rawParam = string(p.src[start:p.i])
			if a.at == 0 {
				a.at = p.i
			}
			// "-Name:value" written without a space keeps the raw token whole.
			args = append(args, a)
			continue
		}
		if c == ',' {
			p.fail(p.i+1, "MissingArgument", "Missing argument in parameter list.")
		}
		v := p.argValue()
		args = append(args, argNode{at: p.i, value: v})
	}
}

// argValue is one argument in argument mode, with "a, b" lists.
func (p *parser) argValue() expr {
	first := p.argPrimary()
	p.skipWS()
	if p.peek() != ',' {
		return first
	}
	arr := &arrayExpr{at: p.i, elems: []expr{first}}
	for p.peek() == ',' {
		p.i++
		p.skipWSNL()
		if isArgEnd(p.peek()) || p.peek() == ',' {
			p.fail(p.i, "MissingExpressionAfterToken", "Missing expression after ','.")
		}
		arr.elems = append(arr.elems, p.argPrimary())
		p.skipWS()
	}
	return arr
}

func (p *parser) argPrimary() expr {
	p.enter()
	defer p.leave()
	c := p.peek()
	if isQuote(c) || c == '$' || c == '(' || c == '{' || (c == '@' && strings.ContainsRune("({'\"", p.peekAt(1))) {
		e := p.postfix(p.primary())
		if e == nil {
			p.unexpected()
		}
		return e
	}
	at := p.i
	text := p.genericToken()
	if p.i == at {
		p.unexpected()
	}
	if n, ok := parseNumber(text); ok {
		return &constExpr{at: p.i, v: n}
	}
	if strings.ContainsRune(text, '$') {
		return expandBareword(text, p.i)
	}
	return &constExpr{at: p.i, v: text}
}

// genericToken reads a bareword in argument mode: everything up to a blank or a
// character that ends an argument. A backtick escapes the next character.
func (p *parser) genericToken() string {
	var b strings.Builder
	for {
		c := p.peek()
		if c == eof || isSpace(c) || c == '\n' || strings.ContainsRune(";|&(){},", c) {
			return b.String()
		}
		if c == '`' {
			n := p.peekAt(1)
			if n == eof || n == '\n' || n == '\r' {
				return b.String()
			}
			b.WriteRune(n)
			p.i += 2
			continue
		}
		if isQuote(c) && b.Len() > 0 {
			return b.String()
		}
		b.WriteRune(c)
		p.i++
	}
}

// expandBareword expands "$name" references in a bareword such as C:\$dir.
func expandBareword(text string, at int) expr {
	e := &expandExpr{at: at}
	rs := []rune(text)
	var lit strings.Builder
	for i := 0; i < len(rs); i++ {
		if rs[i] == '$' && i+1 < len(rs) && isNameChar(rs[i+1]) {
			j := i + 1
			for j < len(rs) && isNameChar(rs[j]) {
				j++
			}
			if j+1 < len(rs) && rs[j] == ':' && isNameChar(rs[j+1]) {
				j++
				for j < len(rs) && isNameChar(rs[j]) {
					j++
				}
			}
			if lit.Len() > 0 {
				e.parts = append(e.parts, &constExpr{at: at, v: lit.String()})
				lit.Reset()
			}
			e.parts = append(e.parts, &varExpr{at: at, name: string(rs[i+1 : j])})
			i = j - 1
			continue
		}
		lit.WriteRune(rs[i])
	}
	if lit.Len() > 0 {
		e.parts = append(e.parts, &constExpr{at: at, v: lit.String()})
	}
	return e
}

// Expressions, lowest precedence first.

func (p *parser) expression() expr { return p.logical() }

// operatorWord reads "-word" at the cursor without consuming it; "" if none.
func (p *parser) operatorWord() (string, int) {
	if !isDash(p.peek()) {
		return "", 0
	}
	j := p.i + 1
	for j < len(p.src) && unicode.IsLetter(p.src[j]) {
		j++
	}
	if j == p.i+1 {
		return "", 0
	}
	return strings.ToLower(string(p.src[p.i+1 : j])), j - p.i
}

func (p *parser) binaryLevel(ops map[string]bool, next func() expr) expr {
	l := next()
	if l == nil {
		return nil
	}
	for {
		save := p.i
		p.skipWS()
		w, n := p.operatorWord()
		if !ops[w] {
			p.i = save
			return l
		}
		p.i += n
		at := p.i
		p.skipWSNL()
		r := next()
		if r == nil {
			p.fail(at, "ExpectedValueExpression", "You must provide a value expression on the right-hand side of the '-%s' operator.", w)
		}
		l = &binaryExpr{at: at, op: w, l: l, r: r}
	}
}

var (
	logicalOps = map[string]bool{"and": true, "or": true, "xor": true}
	bitwiseOps = map[string]bool{"band": true, "bor": true, "bxor": true}
	compareOps = func() map[string]bool {
		m := map[string]bool{"is": true, "isnot": true, "as": true}
		for _, o := range []string{"eq", "ne", "gt", "ge", "lt", "le", "like", "notlike", "match", "notmatch",
			"contains", "notcontains", "replace", "split", "join"} {
			m[o], m["i"+o], m["c"+o] = true, true, true
		}
		return m
	}()
	formatOps = map[string]bool{"f": true}
)

func (p *parser) logical() expr { return p.binaryLevel(logicalOps, p.bitwise) }
func (p *parser) bitwise() expr { return p.binaryLevel(bitwiseOps, p.comparison) }
func (p *parser) comparison() expr {
	return p.binaryLevel(compareOps, p.additive)
}

func (p *parser) arith(ops string, next func() expr) expr {
	l := next()
	if l == nil {
		return nil
	}
	for {
		save := p.i
		p.skipWS()
		c := p.peek()
		if isDash(c) {
			c = '-'
		}
		if !strings.ContainsRune(ops, c) || c == eof || p.peekAt(1) == '=' ||
			(c == '-' && (unicode.IsLetter(p.peekAt(1)) || isDash(p.peekAt(1)))) ||
			(c == '+' && p.peekAt(1) == '+') {
			p.i = save
			return l
		}
		p.i++
		at := p.i
		p.skipWSNL()
		r := next()
		if r == nil {
			p.fail(at, "ExpectedValueExpression", "You must provide a value expression on the right-hand side of the '%c' operator.", c)
		}
		l = &binaryExpr{at: at, op: string(c), l: l, r: r}
	}
}

func (p *parser) additive() expr { return p.arith("+-", p.multiplicative) }
func (p *parser) multiplicative() expr {
	return p.arith("*/%", p.format)
}
func (p *parser) format() expr { return p.binaryLevel(formatOps, p.rangeExpr) }

func (p *parser) rangeExpr() expr {
	l := p.arrayLiteral()
	if l == nil {
		return nil
	}
	save := p.i
	p.skipWS()
	if p.peek() == '.' && p.peekAt(1) == '.' {
		p.i += 2
		at := p.i
		p.skipWSNL()
		r := p.arrayLiteral()
		if r == nil {
			p.fail(at, "ExpectedValueExpression", "You must provide a value expression on the right-hand side of the '..' operator.")
		}
		return &binaryExpr{at: at, op: "..", l: l, r: r}
	}
	p.i = save
	return l
}

func (p *parser) arrayLiteral() expr {
	first := p.unary()
	if first == nil || p.noComma {
		return first
	}
	save := p.i
	p.skipWS()
	if p.peek() != ',' {
		p.i = save
		return first
	}
	arr := &arrayExpr{at: p.i, elems: []expr{first}}
	for p.peek() == ',' {
		p.i++
		at := p.i
		p.skipWSNL()
		e := p.unary()
		if e == nil {
			p.fail(at, "MissingExpressionAfterToken", "Missing expression after ','.")
		}
		arr.elems = append(arr.elems, e)
		save = p.i
		p.skipWS()
	}
	p.i = save
	return arr
}

func (p *parser) startsOperand() bool {
	c := p.peek()
	return c == '$' || isQuote(c) || isDigit(c) || c == '(' || c == '@' || c == '[' || c == '!' ||
		(isDash(c) && (isDigit(p.peekAt(1)) || p.peekAt(1) == '(' || p.peekAt(1) == '$')) ||
		(c == '.' && isDigit(p.peekAt(1)))
}

func (p *parser) unary() expr {
	p.enter()
	defer p.leave()
	p.skipWS()
	c := p.peek()
	start := p.i
	unaryOp := func(op string, n int) expr {
		p.i += n
		at := p.i
		p.skipWS()
		x := p.unary()
		if x == nil {
			p.fail(at, "MissingExpressionAfterOperator", "Missing expression after unary operator '%s'.", string(p.src[start:at]))
		}
		return &unaryExpr{at: at, op: op, x: x}
	}
	switch {
	case c == '!':
		return unaryOp("not", 1)
	case isDash(c):
		if w, n := p.operatorWord(); w != "" {
			switch w {
			case "not", "bnot", "split", "join":
				return unaryOp(w, n)
			}
			return nil
		}
		if isDash(p.peekAt(1)) {
			return unaryOp("pre--", 2)
		}
		return unaryOp("-", 1)
	case c == '+':
		if p.peekAt(1) == '+' {
			return unaryOp("pre++", 2)
		}
		return unaryOp("+", 1)
	case c == '[':
		t := p.typeLiteral()
		at := p.i
		if p.peek() == ':' && p.peekAt(1) == ':' {
			return p.postfix(&typeExpr{at: at, typ: t})
		}
		save := p.i
		p.skipWS()
		if p.startsOperand() {
			x := p.unary()
			return &castExpr{at: at, typ: t, x: x}
		}
		p.i = save
		return p.postfix(&typeExpr{at: at, typ: t})
	}
	e := p.primary()
	if e == nil {
		return nil
	}
	e = p.postfix(e)
	if isAssignable(e) && (p.peek() == '+' && p.peekAt(1) == '+' || isDash(p.peek()) && isDash(p.peekAt(1))) {
		op := "post++"
		if p.peek() != '+' {
			op = "post--"
		}
		p.i += 2
		return &unaryExpr{at: p.i, op: op, x: e}
	}
	return e
}

// typeLiteral reads "[Name]" (with nested brackets, as in [string[]]) and returns Name.
func (p *parser) typeLiteral() string {
	start := p.i
	p.i++
	depth := 1
	for depth > 0 {
		c := p.peek()
		switch {
		case c == '[':
			depth++
		case c == ']':
			depth--
		case c == eof || !(isNameChar(c) || c == '.' || c == ',' || c == '`' || c == ' '):
			p.fail(p.i, "EndSquareBracketExpectedAtEndOfAttribute", "Missing ] at end of attribute or type literal.")
		}
		p.i++
	}
	name := strings.TrimSpace(string(p.src[start+1 : p.i-1]))
	if name == "" {
		p.fail(p.i, "MissingTypename", "Missing type name after '['.")
	}
	return name
}

// primary parses an operand, or returns nil when none starts at the cursor.
func (p *parser) primary() expr {
	p.enter()
	defer p.leave()
	c := p.peek()
	switch {
	case c == '$':
		if p.peekAt(1) == '(' {
			p.i += 2
			body := p.statements(')', p.i)
			p.i++
			return &subExpr{at: p.i, body: body}
		}
		return p.variable()
	case c == '@':
		switch n := p.peekAt(1); {
		case n == '(':
			p.i += 2
			body := p.statements(')', p.i)
			p.i++
			return &subExpr{at: p.i, body: body, array: true}
		case n == '{':
			return p.hashLiteral()
		case isQuote(n):
			return p.hereString()
		}
		return nil
	case isSingleQuote(c):
		return p.singleQuoted()
	case isDoubleQuote(c):
		return p.doubleQuoted(false)
	case c == '(':
		open := p.i + 1
		p.i++
		saveComma := p.noComma
		p.noComma = false
		p.skipWSNL()
		if p.peek() == ')' {
			p.i++
			p.noComma = saveComma
			return &parenExpr{at: p.i}
		}
		body := p.pipelineOrAssign()
		p.skipWSNL()
		if p.peek() != ')' {
			if p.peek() == eof {
				p.fail(open, "MissingEndParenthesisInExpression", "Missing closing ')' in expression.")
			}
			p.unexpected()
		}
		p.i++
		p.noComma = saveComma
		return &parenExpr{at: p.i, body: body}
	case c == '{':
		open := p.i
		p.i++
		saveComma := p.noComma
		p.noComma = false
		body := p.statements('}', p.i)
		p.noComma = saveComma
		p.i++
		return &blockExpr{at: p.i, text: string(p.src[open+1 : p.i-1]), body: body}
	case isDigit(c) || (c == '.' && isDigit(p.peekAt(1))):
		start := p.i
		for {
			c := p.peek()
			if c == '.' && p.peekAt(1) == '.' {
				break
			}
			if !(isNameChar(c) || c == '.') && !((c == '+' || c == '-') && (p.peekAt(-1) == 'e' || p.peekAt(-1) == 'E') && !strings.ContainsAny(strings.ToLower(string(p.src[start:p.i])), "x")) {
				break
			}
			p.i++
		}
		text := string(p.src[start:p.i])
		n, ok := parseNumber(text)
		if !ok {
			p.i = start
			p.unexpected()
		}
		return &constExpr{at: p.i, v: n}
	}
	return nil
}

// variable reads $name, ${name}, $env:NAME, $_, $?, $$ and $^.
func (p *parser) variable() expr {
	start := p.i
	p.i++
	if p.peek() == '{' {
		end := p.i + 1
		for end < len(p.src) && p.src[end] != '}' {
			end++
		}
		if end >= len(p.src) {
			p.fail(start+1, "IncompleteDollarVariableReference", "Missing '}' in variable reference.")
		}
		name := string(p.src[p.i+1 : end])
		p.i = end + 1
		return &varExpr{at: p.i, name: name}
	}
	if c := p.peek(); c == '$' || c == '^' || c == '?' {
		p.i++
		return &varExpr{at: p.i, name: string(c)}
	}
	for isNameChar(p.peek()) {
		p.i++
	}
	if p.peek() == ':' && isNameChar(p.peekAt(1)) && p.i > start+1 {
		p.i++
		for isNameChar(p.peek()) {
			p.i++
		}
	}
	if p.i == start+1 {
		p.i = start
		p.unexpected()
	}
	return &varExpr{at: p.i, name: string(p.src[start+1 : p.i])}
}

func (p *parser) terminatorError(start int, quote rune) {
	line, col, text := position(p.src, start)
	_ = line
	msg := "The string starting:\r\n" + positionMessage(line, col, text) + "\r\nis missing the terminator: " + string(quote) + "."
	tgt, _, _ := strings.Cut(string(p.src[min(start+1, len(p.src)):]), "\n")
	tgt = strings.TrimRight(tgt, "\r")
	panic(&parseError{msg: msg, id: "TerminatorExpectedAtEndOfString", at: len(p.src), target: tgt})
}

func (p *parser) singleQuoted() expr {
	start := p.i
	p.i++
	var b strings.Builder
	for {
		c := p.peek()
		if c == eof {
			p.terminatorError(start, '\'')
		}
		p.i++
		if isSingleQuote(c) {
			if isSingleQuote(p.peek()) {
				b.WriteRune(p.peek())
				p.i++
				continue
			}
			return &constExpr{at: p.i, v: b.String()}
		}
		b.WriteRune(c)
	}
}

var backtickEscapes = map[rune]rune{'0': 0, 'a': 7, 'b': 8, 'f': 12, 'n': '\n', 'r': '\r', 't': '\t', 'v': 11}

// doubleQuoted parses "..." (or, when here is true, the body of @"..."@) into
// literal parts, variables and $(...) subexpressions.
func (p *parser) doubleQuoted(here bool) expr {
	start := p.i
	if !here {
		p.i++
	}
	e := &expandExpr{}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			e.parts = append(e.parts, &constExpr{v: lit.String()})
			lit.Reset()
		}
	}
	for {
		c := p.peek()
		if c == eof {
			if here {
				p.terminatorError(start, '@')
			}
			p.terminatorError(start, '"')
		}
		if here && c == '\n' && isDoubleQuote(p.peekAt(1)) && p.peekAt(2) == '@' {
			p.i += 3
			break
		}
		if !here && isDoubleQuote(c) {
			p.i++
			if isDoubleQuote(p.peek()) {
				lit.WriteRune(p.peek())
				p.i++
				continue
			}
			break
		}
		switch {
		case c == '`':
			n := p.peekAt(1)
			if n == eof {
				p.i++
				continue
			}
			if r, ok := backtickEscapes[n]; ok {
				n = r
			}
			lit.WriteRune(n)
			p.i += 2
		case c == '$' && p.peekAt(1) == '(':
			flush()
			p.i += 2
			saveComma := p.noComma
			p.noComma = false
			body := p.statements(')', p.i)
			p.noComma = saveComma
			p.i++
			e.parts = append(e.parts, &subExpr{at: p.i, body: body})
		case c == '$' && (isNameChar(p.peekAt(1)) || p.peekAt(1) == '{' || p.peekAt(1) == '$' || p.peekAt(1) == '^'):
			flush()
			e.parts = append(e.parts, p.variable())
		default:
			lit.WriteRune(c)
			p.i++
		}
	}
	flush()
	e.at = p.i
	return e
}

// hereString parses @'...'@ and @"..."@; the opening quote must end its line and
// the closing one start a line, as in PowerShell.
func (p *parser) hereString() expr {
	start := p.i
	q := p.peekAt(1)
	p.i += 2
	for isSpace(p.peek()) {
		p.i++
	}
	if p.peek() != '\n' {
		p.fail(p.i, "UnexpectedCharactersAfterHereStringHeader", "Unrecognized token in source text.")
	}
	p.i++
	if isDoubleQuote(q) {
		e := p.doubleQuoted(true)
		trimCR(e.(*expandExpr))
		return e
	}
	var b strings.Builder
	for {
		c := p.peek()
		if c == eof {
			p.terminatorError(start, '@')
		}
		if c == '\n' && isSingleQuote(p.peekAt(1)) && p.peekAt(2) == '@' {
			p.i += 3
			return &constExpr{at: p.i, v: strings.TrimSuffix(b.String(), "\r")}
		}
		b.WriteRune(c)
		p.i++
	}
}

func trimCR(e *expandExpr) {
	if n := len(e.parts); n > 0 {
		if c, ok := e.parts[n-1].(*constExpr); ok {
			if s, ok := c.v.(string); ok {
				c.v = strings.TrimSuffix(s, "\r")
			}
		}
	}
}

func (p *parser) hashLiteral() expr {
	open := p.i + 2
	p.i += 2
	h := &hashExpr{}
	saveComma := p.noComma
	p.noComma = false
	defer func() { p.noComma = saveComma }()
	for {
		p.skipWSNL()
		for p.peek() == ';' {
			p.i++
			p.skipWSNL()
		}
		c := p.peek()
		if c == '}' {
			p.i++
			h.at = p.i
			return h
		}
		if c == eof {
			p.fail(open, "MissingEndCurlyBrace", "Missing closing '}' in hash literal.")
		}
		var key expr
		switch {
		case isQuote(c) || c == '$' || c == '(':
			key = p.postfix(p.primary())
		case isDigit(c):
			key = p.primary()
		default:
			at := p.i
			for isNameChar(p.peek()) || isDash(p.peek()) || p.peek() == '.' {
				p.i++
			}
			if p.i == at {
				p.unexpected()
			}
			key = &constExpr{at: p.i, v: string(p.src[at:p.i])}
		}
		p.skipWS()
		if p.peek() != '=' {
			p.fail(p.i, "MissingEqualsInHashLiteral", "Missing '=' operator after key in hash literal.")
		}
		p.i++
		p.skipWSNL()
		if c := p.peek(); c == '}' || c == ';' || c == eof {
			p.fail(p.i, "MissingHashEntry", "Missing statement after '=' in hash literal.")
		}
		h.keys = append(h.keys, key)
		h.values = append(h.values, p.statement())
		p.skipWS()
		if c := p.peek(); c != '\n' && c != ';' && c != '}' && c != eof {
			p.fail(p.i, "MissingEndCurlyBrace", "Missing closing '}' in hash literal.")
		}
	}
}

// postfix parses member access, method calls, static members and indexing, which
// must follow their operand without blanks.
func (p *parser) postfix(e expr) expr {
	if e == nil {
		return nil
	}
	for {
		c := p.peek()
		switch {
		case c == '.' && p.peekAt(1) != '.' && (isNameChar(p.peekAt(1)) || isQuote(p.peekAt(1)) || p.peekAt(1) == '$'):
			p.i++
			e = p.member(e, false)
		case c == ':' && p.peekAt(1) == ':':
			p.i += 2
			e = p.member(e, true)
		case c == '[':
			if _, isType := e.(*typeExpr); isType {
				return e
			}
			p.i++
			at := p.i
			p.skipWSNL()
			saveComma := p.noComma
			p.noComma = false
			idx := p.expression()
			p.noComma = saveComma
			if idx == nil {
				p.fail(at, "MissingArrayIndexExpression", "Array index expression is missing or not valid.")
			}
			p.skipWSNL()
			if p.peek() != ']' {
				p.fail(p.i, "MissingEndSquareBracket", "Missing ']' after array index expression.")
			}
			p.i++
			e = &indexExpr{at: p.i, x: e, index: idx}
		default:
			return e
		}
	}
}

func (p *parser) member(x expr, static bool) expr {
	var name expr
	c := p.peek()
	switch {
	case isSingleQuote(c):
		name = p.singleQuoted()
	case isDoubleQuote(c):
		name = p.doubleQuoted(false)
	case c == '$':
		name = p.variable()
	default:
		start := p.i
		for isNameChar(p.peek()) && p.peek() != '?' {
			p.i++
		}
		if p.i == start {
			p.fail(p.i, "MissingPropertyName", "Missing property name after reference operator.")
		}
		name = &constExpr{at: p.i, v: string(p.src[start:p.i])}
	}
	at := p.i
	if p.peek() != '(' {
		return &memberExpr{at: at, x: x, name: name, static: static}
	}
	p.i++
	call := &invokeExpr{at: at, x: x, name: name, static: static}
	saveComma := p.noComma
	p.noComma = true
	defer func() { p.noComma = saveComma }()
	p.skipWSNL()
	if p.peek() == ')' {
		p.i++
		return call
	}
	for {
		p.skipWSNL()
		a := p.expression()
		if a == nil {
			p.fail(p.i, "MissingEndParenthesisInMethodCall", "Missing ')' in method call.")
		}
		call.args = append(call.args, a)
		p.skipWSNL()
		switch p.peek() {
		case ',':
			p.i++
			continue
		case ')':
			p.i++
			return call
		}
		p.fail(p.i, "MissingEndParenthesisInMethodCall", "Missing ')' in method call.")
	}
}

// position turns a rune offset into PowerShell's 1-based line and char and the text
// of that line.
func position(src []rune, at int) (line, col int, text string) {
	if at > len(src) {
		at = len(src)
	}
	if at < 0 {
		at = 0
	}
	line, lineStart := 1, 0
	for i := 0; i < at; i++ {
		if src[i] == '\n' {
			line++
			lineStart = i + 1
		}
	}
	end := lineStart
	for end < len(src) && src[end] != '\n' {
		end++
	}
	return line, at - lineStart + 1, strings.TrimRight(string(src[lineStart:end]), "\r")
}

// positionMessage is PowerShell 2.0's "At line:N char:M" and "+ text <<<< rest" lines.
func positionMessage(line, col int, text string) string {
	rs := []rune(text)
	c := col - 1
	if c > len(rs) {
		c = len(rs)
	}
	marked := strings.TrimRight(string(rs[:c])+" <<<< "+string(rs[c:]), " ")
	return sprintf("At line:%d char:%d\r\n+ %s", line, col, marked)
}
