package ps

// The syntax tree. Every node keeps "at", the offset in the script (in runes) just
// after the token an error should point at: PowerShell 2.0 reports "char:N" and
// draws its "<<<<" marker after the offending token.

type stmt interface{ stmtPos() int }

type expr interface{ exprPos() int }

type pipelineStmt struct {
	at    int
	elems []any // *commandNode or expr
}

type assignStmt struct {
	at     int
	target expr
	op     string // "=", "+=", "-=", "*=", "/="
	value  stmt
}

type ifStmt struct {
	at     int
	conds  []stmt
	blocks [][]stmt
	els    []stmt // nil when there is no else
	hasEls bool
}

type foreachStmt struct {
	at      int
	varName string
	coll    stmt
	body    []stmt
}

type forStmt struct {
	at               int
	init, cond, step stmt // each may be nil
	body             []stmt
}

type whileStmt struct {
	at   int
	cond stmt
	body []stmt
}

type doStmt struct {
	at    int
	body  []stmt
	cond  stmt
	until bool
}

type catchClause struct {
	types []string
	body  []stmt
}

type tryStmt struct {
	at         int
	body       []stmt
	catches    []catchClause
	finally    []stmt
	hasFinally bool
}

// flowStmt is throw, exit, return, break or continue, with an optional value.
type flowStmt struct {
	at    int
	kind  string
	value stmt
}

func (s *pipelineStmt) stmtPos() int { return s.at }
func (s *assignStmt) stmtPos() int   { return s.at }
func (s *ifStmt) stmtPos() int       { return s.at }
func (s *foreachStmt) stmtPos() int  { return s.at }
func (s *forStmt) stmtPos() int      { return s.at }
func (s *whileStmt) stmtPos() int    { return s.at }
func (s *doStmt) stmtPos() int       { return s.at }
func (s *tryStmt) stmtPos() int      { return s.at }
func (s *flowStmt) stmtPos() int     { return s.at }

// commandNode is one command in a pipeline: a bareword name, or "&"/"." followed by
// an expression naming the command or holding a script block.
type commandNode struct {
	at     int
	invoke string // "", "&" or "."
	name   string // the bareword, when invoke is ""
	target expr   // what follows & or .
	args   []argNode
}

// argNode is one command argument: a -Parameter token (with its :value when
// written -Name:value) or a value.
type argNode struct {
	at       int
	param    string // without the dash; "" for a value
	colon    bool
	value    expr
	rawParam string // the token as written, for native commands
}

type constExpr struct {
	at int
	v  any
}

type expandExpr struct {
	at    int
	parts []expr
}

type varExpr struct {
	at   int
	name string
}

type arrayExpr struct {
	at    int
	elems []expr
}

// subExpr is $(...) (array false) or @(...) (array true).
type subExpr struct {
	at    int
	body  []stmt
	array bool
}

type parenExpr struct {
	at   int
	body stmt
}

type hashExpr struct {
	at     int
	keys   []expr
	values []stmt
}

type blockExpr struct {
	at   int
	text string
	body []stmt
}

type unaryExpr struct {
	at int
	op string
	x  expr
}

type binaryExpr struct {
	at   int
	op   string
	l, r expr
}

type castExpr struct {
	at  int
	typ string
	x   expr
}

type typeExpr struct {
	at  int
	typ string
}

type memberExpr struct {
	at     int
	x      expr
	name   expr
	static bool
}

type invokeExpr struct {
	at     int
	x      expr
	name   expr
	args   []expr
	static bool
}

type indexExpr struct {
	at    int
	x     expr
	index expr
}

func (e *constExpr) exprPos() int  { return e.at }
func (e *expandExpr) exprPos() int { return e.at }
func (e *varExpr) exprPos() int    { return e.at }
func (e *arrayExpr) exprPos() int  { return e.at }
func (e *subExpr) exprPos() int    { return e.at }
func (e *parenExpr) exprPos() int  { return e.at }
func (e *hashExpr) exprPos() int   { return e.at }
func (e *blockExpr) exprPos() int  { return e.at }
func (e *unaryExpr) exprPos() int  { return e.at }
func (e *binaryExpr) exprPos() int { return e.at }
func (e *castExpr) exprPos() int   { return e.at }
func (e *typeExpr) exprPos() int   { return e.at }
func (e *memberExpr) exprPos() int { return e.at }
func (e *invokeExpr) exprPos() int { return e.at }
func (e *indexExpr) exprPos() int  { return e.at }
