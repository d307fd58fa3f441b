package wsman

import (
	"encoding/base64"
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// receiveShape is the sequence of a ReceiveResponse's elements as a client sees them:
// "stdout data" for a run of data elements of one stream without End, "stdout end" for
// an End="true" element (with "+data" if it carries data), and "done" for the final
// CommandState. It also returns each stream's decoded data.
func receiveShape(t *testing.T, envelope []byte) ([]string, map[string]string) {
	t.Helper()
	var env struct {
		Body struct {
			Receive struct {
				Elems []struct {
					XMLName xml.Name
					Name    string `xml:"Name,attr"`
					End     string `xml:"End,attr"`
					State   string `xml:"State,attr"`
					Text    string `xml:",chardata"`
				} `xml:",any"`
			} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell ReceiveResponse"`
		} `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
	}
	if err := xml.Unmarshal(envelope, &env); err != nil {
		t.Fatalf("not a SOAP envelope: %v", err)
	}
	var shape []string
	data := map[string]string{}
	for _, e := range env.Body.Receive.Elems {
		switch e.XMLName.Local {
		case "Stream":
			raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(e.Text))
			if err != nil {
				t.Fatalf("stream %s: %v", e.Name, err)
			}
			data[e.Name] += string(raw)
			s := e.Name + " data"
			if e.End == "true" {
				s = e.Name + " end"
				if len(raw) > 0 {
					s += "+data"
				}
			}
			if len(shape) == 0 || shape[len(shape)-1] != s || e.End == "true" {
				shape = append(shape, s)
			}
		case "CommandState":
			shape = append(shape, "done")
		}
	}
	return shape, data
}

// TestReceiveMatchesWindows renders the lab's last Receive reply for the output of each
// captured Windows reply (testdata/windows, see SOURCES.md) and compares the order and
// shape of the stream elements: data only in elements without End, then one empty
// End="true" element per stream.
func TestReceiveMatchesWindows(t *testing.T) {
	const cmdID = "7A6B5C4D-3E2F-4A1B-8C9D-0E1F2A3B4C5D"
	for _, file := range []string{"receive-dir.xml", "receive-whoami-error.xml"} {
		t.Run(file, func(t *testing.T) {
			captured, err := os.ReadFile(filepath.Join("testdata", "windows", file))
			if err != nil {
				t.Fatal(err)
			}
			want, wantData := receiveShape(t, captured)
			lab := receiveBodyXML(cmdID, []chunk{
				{stream: "stdout", data: []byte(wantData["stdout"]), end: true},
				{stream: "stderr", data: []byte(wantData["stderr"]), end: true},
			}, true, 1)
			got, gotData := receiveShape(t, reply{actionReceiveResponse, "uuid:1", lab}.render("uuid:2"))
			if !slices.Equal(got, want) {
				t.Errorf("lab's Receive reply has the elements\n  %q\nWindows answers\n  %q", got, want)
			}
			if gotData["stdout"] != wantData["stdout"] || gotData["stderr"] != wantData["stderr"] {
				t.Errorf("lab's data %q differs from Windows' %q", gotData, wantData)
			}
			// What a client that reads only elements without End (npm winrm-client) sees.
			if onlyData := withoutEnd(t, lab); onlyData != wantData["stdout"]+wantData["stderr"] {
				t.Errorf("elements without End carry %q, want all the output %q", onlyData, wantData["stdout"]+wantData["stderr"])
			}
		})
	}
}

func withoutEnd(t *testing.T, body string) string {
	t.Helper()
	var r struct {
		Streams []struct {
			End  string `xml:"End,attr"`
			Text string `xml:",chardata"`
		} `xml:"Stream"`
	}
	if err := xml.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, s := range r.Streams {
		if s.End == "true" {
			continue
		}
		raw, _ := base64.StdEncoding.DecodeString(s.Text)
		out = append(out, raw...)
	}
	return string(out)
}
