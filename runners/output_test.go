package runners

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseOutput(t *testing.T) {
	tests := []struct {
		name     string
		stdout   string
		sections []Section
		messages []string
		wantErr  bool
	}{
		{name: "empty"},
		{
			name:     "messages only",
			stdout:   "Welcome to the Exchange Management Shell!\r\n\r\nWARNING: something\r\n",
			messages: []string{"Welcome to the Exchange Management Shell!", "WARNING: something"},
		},
		{
			name: "one section, CRLF",
			stdout: "exchops:section copystatus\r\n" +
				"\"Name\",\"Status\",\"CopyQueueLength\"\r\n" +
				"\"MB01\\EX10-MB01\",\"Mounted\",\"0\"\r\n" +
				"\"MB01\\EX10-MB02\",\"Healthy\",\"3\"\r\n",
			sections: []Section{{Name: "copystatus", Columns: []string{"Name", "Status", "CopyQueueLength"}, Rows: []map[string]string{
				{"Name": `MB01\EX10-MB01`, "Status": "Mounted", "CopyQueueLength": "0"},
				{"Name": `MB01\EX10-MB02`, "Status": "Healthy", "CopyQueueLength": "3"},
			}}},
		},
		{
			name:   "quotes, commas and line breaks inside fields, LF only, no final newline",
			stdout: "exchops:section x\n\"A\",\"B\"\n\"say \"\"hi\"\", ok\",\"line1\r\nline2\"\n\"\",\"[EX10-MB01, 1];[EX10-MB02, 2]\"",
			sections: []Section{{Name: "x", Columns: []string{"A", "B"}, Rows: []map[string]string{
				{"A": `say "hi", ok`, "B": "line1\r\nline2"},
				{"A": "", "B": "[EX10-MB01, 1];[EX10-MB02, 2]"},
			}}},
		},
		{
			name: "banner, empty section, warning between sections and inside one, #TYPE line",
			stdout: "Welcome\r\n" +
				"exchops:section none\r\n" +
				"WARNING: The cmdlet extension agent is slow.\r\n" +
				"exchops:section dag\r\n" +
				"#TYPE Selected.Microsoft.Exchange.Data.Directory.SystemConfiguration.DatabaseAvailabilityGroup\r\n" +
				"\"Name\",\"Servers\"\r\n" +
				"VERBOSE: reading\r\n" +
				"\"E14-DAG\",\"EX10-MB01;EX10-MB02\"\r\n" +
				"exchops:section last\r\n",
			sections: []Section{
				{Name: "none"},
				{Name: "dag", Columns: []string{"Name", "Servers"}, Rows: []map[string]string{{"Name": "E14-DAG", "Servers": "EX10-MB01;EX10-MB02"}}},
				{Name: "last"},
			},
			messages: []string{"Welcome", "WARNING: The cmdlet extension agent is slow.", "VERBOSE: reading"},
		},
		{
			name:     "header without rows",
			stdout:   "exchops:section s\r\n\"A\"\r\n",
			sections: []Section{{Name: "s", Columns: []string{"A"}}},
		},
		{
			name:     "quoted line before any section is a message",
			stdout:   "\"not a table\"\r\nexchops:sectionx is not a marker\r\n",
			messages: []string{`"not a table"`, "exchops:sectionx is not a marker"},
		},
		{
			name:     "unquoted field tolerated",
			stdout:   "exchops:section s\r\n\"A\",B\r\n\"1\",2\r\n",
			sections: []Section{{Name: "s", Columns: []string{"A", "B"}, Rows: []map[string]string{{"A": "1", "B": "2"}}}},
		},
		{name: "row with too few fields", stdout: "exchops:section s\r\n\"A\",\"B\"\r\n\"1\"\r\n", wantErr: true},
		{name: "row with too many fields", stdout: "exchops:section s\r\n\"A\"\r\n\"1\",\"2\"\r\n", wantErr: true},
		{name: "unterminated quote", stdout: "exchops:section s\r\n\"A\r\n", wantErr: true},
		{name: "junk after closing quote", stdout: "exchops:section s\r\n\"A\"x\r\n", wantErr: true},
		{name: "duplicate column", stdout: "exchops:section s\r\n\"A\",\"A\"\r\n", wantErr: true},
		{name: "quote inside unquoted field", stdout: "exchops:section s\r\n\"A\",b\"c\r\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sections, messages, err := ParseOutput(tt.stdout)
			if tt.wantErr {
				if !errors.Is(err, ErrMalformedOutput) {
					t.Fatalf("err = %v, want ErrMalformedOutput", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseOutput: %v", err)
			}
			if !reflect.DeepEqual(sections, tt.sections) {
				t.Errorf("sections:\n got %#v\nwant %#v", sections, tt.sections)
			}
			if !reflect.DeepEqual(messages, tt.messages) {
				t.Errorf("messages:\n got %q\nwant %q", messages, tt.messages)
			}
		})
	}
}

func TestParseOutputErrorNamesLine(t *testing.T) {
	_, _, err := ParseOutput("banner\r\nexchops:section s\r\n\"A\"\r\n\"1\",\"2\"\r\n")
	if err == nil || !strings.Contains(err.Error(), `section "s", line 4`) {
		t.Fatalf("err = %v, want it to name section s, line 4", err)
	}
}

func TestTables(t *testing.T) {
	r := &Result{Sections: []Section{
		{Name: "copy", Columns: []string{"A"}, Rows: []map[string]string{{"A": "1"}}},
		{Name: "empty"},
		{Name: "copy", Columns: []string{"A"}, Rows: []map[string]string{{"A": "2"}}},
	}}
	got := r.Tables()
	want := map[string][]map[string]string{
		"copy":  {{"A": "1"}, {"A": "2"}},
		"empty": {},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Tables() = %#v, want %#v", got, want)
	}
	if got["empty"] == nil {
		t.Fatal("an empty section must map to a non-nil slice")
	}
}

// formatOutput writes sections the way a script does (marker, then ConvertTo-Csv
// -NoTypeInformation of the rows), for round-trip checks.
func formatOutput(sections []Section) string {
	var b strings.Builder
	quote := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
	for _, s := range sections {
		b.WriteString(SectionMarker + " " + s.Name + "\r\n")
		if s.Columns == nil {
			continue
		}
		var fields []string
		for _, c := range s.Columns {
			fields = append(fields, quote(c))
		}
		b.WriteString(strings.Join(fields, ",") + "\r\n")
		for _, row := range s.Rows {
			fields = fields[:0]
			for _, c := range s.Columns {
				fields = append(fields, quote(row[c]))
			}
			b.WriteString(strings.Join(fields, ",") + "\r\n")
		}
	}
	return b.String()
}

// FuzzParseOutput checks that ParseOutput never panics, that every row it returns has
// exactly the header's columns, and that what it parsed, written again as a script would,
// parses to the same sections.
func FuzzParseOutput(f *testing.F) {
	f.Add("exchops:section copystatus\r\n\"Name\",\"Status\"\r\n\"MB01\\EX10-MB01\",\"Mounted\"\r\n")
	f.Add("Welcome\r\nWARNING: x\r\nexchops:section a\r\nexchops:section b\r\n\"A\",\"B\"\r\n\"1\",\"x\r\ny\"\r\n")
	f.Add("exchops:section s\r\n\"A\"\r\n\"say \"\"hi\"\"\"\r\n")
	f.Add("exchops:section s\r\n\"A\r\n")
	f.Fuzz(func(t *testing.T, stdout string) {
		sections, _, err := ParseOutput(stdout)
		if err != nil {
			return
		}
		for _, s := range sections {
			for _, row := range s.Rows {
				if len(row) != len(s.Columns) {
					t.Fatalf("section %q: row %v does not match columns %q", s.Name, row, s.Columns)
				}
			}
		}
		// A section name that is blank or has a line break cannot be written back.
		for _, s := range sections {
			if strings.ContainsAny(s.Name, "\r\n") || s.Name != strings.TrimSpace(s.Name) {
				return
			}
		}
		again, messages, err := ParseOutput(formatOutput(sections))
		if err != nil {
			t.Fatalf("reparse: %v", err)
		}
		if len(messages) != 0 {
			t.Fatalf("reparse produced messages %q", messages)
		}
		if !reflect.DeepEqual(normalize(again), normalize(sections)) {
			t.Fatalf("round trip:\n got %#v\nwant %#v", again, sections)
		}
	})
}

// normalize makes nil and empty row lists compare equal.
func normalize(ss []Section) []Section {
	out := make([]Section, len(ss))
	for i, s := range ss {
		if len(s.Rows) == 0 {
			s.Rows = nil
		}
		out[i] = s
	}
	return out
}
