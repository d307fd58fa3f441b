package ps

import (
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// formatter imitates Out-Default at the top level: scalars one per line, objects
// as a table (up to four properties) or a list. Consecutive objects of one type
// share a table, so they are held until something else is written.
type formatter struct {
	st      *sessionState
	w       io.Writer
	pending []*Object
	work    int // elements visited in nested arrays, bounded like ToString's walk
}

func newFormatter(st *sessionState, w io.Writer) *formatter {
	if w == nil {
		w = io.Discard
	}
	return &formatter{st: st, w: w}
}

func (f *formatter) line(s string) { io.WriteString(f.w, crlf(s)+"\r\n") }

func (f *formatter) add(v any) { f.addDepth(v, 0) }

func (f *formatter) addDepth(v any, depth int) {
	switch x := v.(type) {
	case nil, void:
	case []any:
		if depth >= maxDepth {
			f.flush()
			f.line("System.Object[]")
			return
		}
		for _, e := range x {
			if f.work++; f.work > maxWork || (f.work%1024 == 0 && f.st.ctx != nil && f.st.ctx.Err() != nil) {
				return
			}
			f.addDepth(e, depth+1)
		}
	case *Object:
		if len(x.Props()) == 0 {
			f.flush()
			f.line(x.String())
			return
		}
		if len(f.pending) > 0 && f.pending[0].TypeName != x.TypeName {
			f.flush()
		}
		f.pending = append(f.pending, x)
	case *Hashtable:
		f.flush()
		rows := make([]*Object, len(x.Keys))
		for i, k := range x.Keys {
			rows[i] = NewObject("System.Collections.DictionaryEntry", "Name", k, "Value", x.Values[i])
		}
		f.table(rows)
	case time.Time:
		f.flush()
		f.line("")
		f.line(dotnetTimeFormat(x, "F"))
		f.line("")
	default:
		f.flush()
		f.line(ToString(v))
	}
}

func (f *formatter) flush() {
	if len(f.pending) == 0 {
		return
	}
	objs := f.pending
	f.pending = nil
	if len(objs[0].Props()) <= 4 {
		f.table(objs)
	} else {
		f.list(objs)
	}
}

// display is how a property value appears in a table or list cell.
func display(v any) string { return displayDepth(v, 0) }

func displayDepth(v any, depth int) string {
	switch x := v.(type) {
	case []any:
		if depth >= 2 {
			return "System.Object[]"
		}
		parts := make([]string, 0, min(len(x), 64))
		for i, e := range x {
			// A cell shows the start of a long collection, as PowerShell's $FormatEnumerationLimit does.
			if i == 64 {
				parts = append(parts, "...")
				break
			}
			parts = append(parts, displayDepth(e, depth+1))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case time.Time:
		return dotnetTimeFormat(x, "G")
	case *Hashtable:
		return "{" + strings.Join(x.Keys, ", ") + "}"
	}
	return strings.ReplaceAll(ToString(v), "\n", " ")
}

func (f *formatter) table(objs []*Object) {
	if len(objs) == 0 {
		return
	}
	props := objs[0].Props()
	cols := make([]string, len(props))
	width := make([]int, len(props))
	right := make([]bool, len(props))
	for i, p := range props {
		cols[i] = p.Name
		width[i] = utf8.RuneCountInString(p.Name)
		right[i] = true
	}
	cells := make([][]string, len(objs))
	for r, o := range objs {
		cells[r] = make([]string, len(cols))
		for i, name := range cols {
			v, _ := o.Get(name)
			if !isNumber(v) {
				right[i] = false
			}
			s := display(v)
			cells[r][i] = s
			width[i] = max(width[i], utf8.RuneCountInString(s))
		}
	}
	row := func(vals []string) string {
		var b strings.Builder
		for i, s := range vals {
			if i > 0 {
				b.WriteByte(' ')
			}
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(s))
			if right[i] {
				b.WriteString(pad + s)
			} else {
				b.WriteString(s + pad)
			}
		}
		return strings.TrimRight(b.String(), " ")
	}
	dashes := make([]string, len(cols))
	for i, c := range cols {
		dashes[i] = strings.Repeat("-", utf8.RuneCountInString(c))
	}
	f.line("")
	f.line(row(cols))
	f.line(row(dashes))
	for _, r := range cells {
		f.line(row(r))
	}
	f.line("")
}

func (f *formatter) list(objs []*Object) {
	f.line("")
	for _, o := range objs {
		w := 0
		for _, p := range o.Props() {
			w = max(w, utf8.RuneCountInString(p.Name))
		}
		for _, p := range o.Props() {
			f.line(p.Name + strings.Repeat(" ", w-utf8.RuneCountInString(p.Name)) + " : " + display(p.Value))
		}
		f.line("")
	}
}
