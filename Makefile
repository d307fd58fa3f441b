# exchops: the two commands that matter are `make demo` and `make test`.
GO       ?= go
PKGS     := ./...
BIN      := bin/exchops

.PHONY: build test demo lab lint bench soak fuzz docker clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) .

# Every test, with the race detector (what .ci/run calls).
test:
	$(GO) test -race -count=1 $(PKGS)

demo:
	$(GO) run . demo

lab:
	$(GO) run . lab

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# Benchmarks (not part of `make test`): runs them, a few minutes, and writes
# docs/PERFORMANCE.md, the figures against issue 9's targets with the machine noted.
bench:
	$(GO) run ./internal/benchreport/cmd -go $(GO) -out docs/PERFORMANCE.md

# The reliability suite (not part of `make test`): a few minutes of load and faults
# against an exchops child process, SIGKILLs included; prints its figures and fails
# when an invariant breaks. SOAK_DURATION (default 90s) sets the mixed load's length.
soak:
	$(GO) test -tags soak -run Soak -timeout 15m -count=1 -v .

# Short fuzzing of every parser; the seed corpora under testdata/fuzz run in `make test` too.
FUZZTIME ?= 20s
fuzz:
	@$(GO) list -f '{{.ImportPath}} {{.Dir}}' $(PKGS) | while read pkg dir; do \
		for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

docker:
	docker build -t exchops .

clean:
	rm -rf bin
