package runners

import (
	"errors"
	"fmt"
	"strings"
)

// SectionMarker starts a result table in a script's stdout: the line
// "exchops:section <name>" is followed by ConvertTo-Csv -NoTypeInformation output
// (see docs/POWERSHELL.md).
const SectionMarker = "exchops:section"

// Section is one result table a script printed: its name, its columns in the order
// ConvertTo-Csv printed them, and one map per row keyed by column. A section whose
// pipeline produced no objects has no header, so no columns and no rows.
type Section struct {
	Name    string
	Columns []string
	Rows    []map[string]string
}

// ErrMalformedOutput is wrapped by ParseOutput's errors.
var ErrMalformedOutput = errors.New("malformed script output")

// ParseOutput splits a script's stdout into its sections and its messages.
//
// A section starts at a line "exchops:section <name>" and runs to the next such line. In
// it, lines that begin with a double quote are CSV records as Windows PowerShell 2.0's
// ConvertTo-Csv writes them (every field quoted, "" for a quote, CRLF between records,
// line breaks allowed inside quotes): the first is the header, the others rows. A
// "#TYPE ..." line (ConvertTo-Csv without -NoTypeInformation) is skipped. Every other
// non-blank line, inside or outside sections (the Exchange banner, WARNING:, VERBOSE:,
// Write-Host text), is a message, without its line break.
//
// A record that does not parse, a row with more or fewer fields than the header and a
// header that names a column twice are errors; the sections and messages before the error
// are returned with it.
func ParseOutput(stdout string) (sections []Section, messages []string, err error) {
	var cur *Section
	line := 1
	for pos := 0; pos < len(stdout); {
		end := strings.IndexByte(stdout[pos:], '\n')
		if end < 0 {
			end = len(stdout)
		} else {
			end += pos
		}
		text := strings.TrimRight(stdout[pos:end], "\r")
		switch {
		case isMarker(text):
			sections = append(sections, Section{Name: strings.TrimSpace(text[len(SectionMarker):])})
			cur = &sections[len(sections)-1]
		case cur != nil && strings.HasPrefix(text, `"`):
			fields, next, lines, perr := parseRecord(stdout, pos)
			if perr != nil {
				return sections, messages, fmt.Errorf("%w: section %q, line %d: %v", ErrMalformedOutput, cur.Name, line, perr)
			}
			if aerr := cur.add(fields); aerr != nil {
				return sections, messages, fmt.Errorf("%w: section %q, line %d: %v", ErrMalformedOutput, cur.Name, line, aerr)
			}
			line += lines
			pos = next
			continue
		case cur != nil && cur.Columns == nil && strings.HasPrefix(text, "#TYPE "):
			// ConvertTo-Csv without -NoTypeInformation: the type line precedes the header.
		case strings.TrimSpace(text) != "":
			messages = append(messages, text)
		}
		line++
		pos = end + 1
	}
	return sections, messages, nil
}

func isMarker(line string) bool {
	if !strings.HasPrefix(line, SectionMarker) {
		return false
	}
	rest := line[len(SectionMarker):]
	return rest == "" || rest[0] == ' ' || rest[0] == '\t'
}

// add takes the next record of the section: its header first, then its rows.
func (s *Section) add(fields []string) error {
	if s.Columns == nil {
		seen := make(map[string]bool, len(fields))
		for _, f := range fields {
			if seen[f] {
				return fmt.Errorf("header names column %q twice", f)
			}
			seen[f] = true
		}
		s.Columns = fields
		return nil
	}
	if len(fields) != len(s.Columns) {
		return fmt.Errorf("row has %d fields, header has %d", len(fields), len(s.Columns))
	}
	row := make(map[string]string, len(fields))
	for i, f := range fields {
		row[s.Columns[i]] = f
	}
	s.Rows = append(s.Rows, row)
	return nil
}

// parseRecord reads one CSV record starting at s[pos], which is a double quote. It
// returns the fields, the offset after the record's line break, and how many lines the
// record spanned. Fields are normally quoted; an unquoted field runs to the next comma.
func parseRecord(s string, pos int) (fields []string, next, lines int, err error) {
	lines = 1
	var f strings.Builder
	i := pos
	for {
		f.Reset()
		if i < len(s) && s[i] == '"' {
			i++
			for {
				q := strings.IndexByte(s[i:], '"')
				if q < 0 {
					return nil, 0, 0, errors.New("a quoted field is not closed")
				}
				chunk := s[i : i+q]
				lines += strings.Count(chunk, "\n")
				f.WriteString(chunk)
				i += q + 1
				if i < len(s) && s[i] == '"' {
					f.WriteByte('"')
					i++
					continue
				}
				break
			}
		} else {
			j := i
			for j < len(s) && s[j] != ',' && s[j] != '\n' && s[j] != '\r' {
				if s[j] == '"' {
					return nil, 0, 0, errors.New("a quote inside an unquoted field")
				}
				j++
			}
			f.WriteString(s[i:j])
			i = j
		}
		fields = append(fields, f.String())
		switch {
		case i >= len(s):
			return fields, i, lines, nil
		case s[i] == ',':
			i++
		case s[i] == '\n':
			return fields, i + 1, lines, nil
		case s[i] == '\r' && (i+1 == len(s) || s[i+1] == '\n'):
			if i+1 == len(s) {
				return fields, i + 1, lines, nil
			}
			return fields, i + 2, lines, nil
		default:
			return nil, 0, 0, fmt.Errorf("unexpected %q after a closing quote", s[i])
		}
	}
}

// Tables returns sections by name, the plain form commands/ reads. Sections that share a
// name (a script printing one per server in a loop) have their rows joined in order; a
// section without rows maps to an empty, non-nil slice.
func Tables(sections []Section) map[string][]map[string]string {
	t := make(map[string][]map[string]string, len(sections))
	for _, s := range sections {
		rows := t[s.Name]
		if rows == nil {
			rows = []map[string]string{}
		}
		t[s.Name] = append(rows, s.Rows...)
	}
	return t
}
