// Package cli is the operator side of the aloft binary: `aloft app`,
// `aloft bundle`, `aloft channel`, … talking to the operator API through
// origin/api's typed client. It is a library (Main takes the arguments and
// an Env) so tests run every command in process against a real server.
package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aloft/aloft/origin/api"
)

// Env is what a command sees of its process.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// HTTP is the client for API calls; nil uses a default with timeouts.
	// --ca-file (ALOFT_CA_FILE) makes a copy of it that also trusts the
	// file's CA certificates.
	HTTP *http.Client
}

// OSEnv is the real process environment.
func OSEnv() Env { return Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv} }

// cliRetry is how long a command retries a request through a leader
// change or a dropped connection.
const cliRetry = 30 * time.Second

// command is one `aloft <group> <verb>`.
type command struct {
	usage   string // arguments after the command name
	summary string
	example string
	run     func(ctx context.Context, c *call) error
	flags   func(fs *flag.FlagSet, c *call)
	// offline commands need no origin (key create).
	offline bool
	// catalog commands change what edges serve: they take --wait.
	catalog bool
}

// call carries one invocation's parsed state.
type call struct {
	env   Env
	fs    *flag.FlagSet
	args  []string // positional arguments
	api   string
	token string
	json  bool
	// caFile is a PEM file of CA certificates to trust beside the
	// system's (--ca-file), and hc the HTTP client that does.
	caFile string
	hc     *http.Client
	// consistent makes reads go to the leader (--consistent).
	consistent bool
	// wait asks to return only once every live edge serves the
	// command's write, within waitTimeout (--wait, --wait-timeout).
	wait        bool
	waitTimeout time.Duration
	values      map[string]any
	// cl is the one client of the invocation: the index of its last
	// write is what --wait waits for.
	cl *api.Client
}

func (c *call) str(name string) string   { return *(c.values[name].(*string)) }
func (c *call) boolean(name string) bool { return *(c.values[name].(*bool)) }
func (c *call) integer(name string) int  { return *(c.values[name].(*int)) }
func (c *call) set(name string) bool {
	found := false
	c.fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

func (c *call) client() *api.Client {
	if c.cl != nil {
		return c.cl
	}
	c.cl = api.NewClient(c.api, c.token, c.hc)
	c.cl.SetConsistentReads(c.consistent)
	// Leader changes pass within seconds; writes keep one idempotency
	// key across the retries, so none is applied twice.
	c.cl.SetRetry(cliRetry)
	return c.cl
}

func commands() map[string]*command {
	m := map[string]*command{}
	for _, group := range []map[string]*command{appCommands(), bundleCommands(), channelCommands(), deviceCommands(), otherCommands(), statsCommands(), profileCommands(), clusterCommands(), auditCommands(), edgesCommands(), webhookCommands(), scheduleCommands(), previewCommands()} {
		for k, v := range group {
			m[k] = v
		}
	}
	return m
}

// Main runs one command line and returns the process exit code: 0 on
// success, 1 when the operation failed, 2 for a usage error.
func Main(ctx context.Context, args []string, env Env) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(env.Stdout, cmds)
		return 0
	}
	// Global flags may come before the command: move them after it.
	var lead []string
	for len(args) > 1 && strings.HasPrefix(args[0], "-") {
		n := 1
		if !strings.Contains(args[0], "=") && args[0] != "--json" && args[0] != "-json" {
			n = 2
		}
		lead, args = append(lead, args[:n]...), args[n:]
	}
	name := args[0]
	rest := append(args[1:], lead...)
	if len(args) > 1 && !strings.HasPrefix(args[1], "-") {
		name, rest = args[0]+" "+args[1], append(args[2:], lead...)
	}
	cmd := cmds[name]
	if cmd == nil {
		fmt.Fprintf(env.Stderr, "aloft: unknown command %q; run 'aloft help' for the list\n", name)
		return 2
	}
	c, code := parse(name, cmd, rest, env)
	if c == nil {
		return code
	}
	err := cmd.run(ctx, c)
	if err == nil && c.wait {
		err = waitEdges(ctx, c)
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "aloft %s: %s\n", name, explain(err, c))
		return 1
	}
	return 0
}

// parse reads flags and positional arguments in any order.
func parse(name string, cmd *command, args []string, env Env) (*call, int) {
	fs := flag.NewFlagSet("aloft "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	c := &call{env: env, fs: fs, values: map[string]any{}}
	fs.StringVar(&c.api, "api", env.Getenv("ALOFT_API"), "operator API base URL (env ALOFT_API, else the profile's api)")
	fs.StringVar(&c.token, "token", env.Getenv("ALOFT_TOKEN"), "API token (env ALOFT_TOKEN, else the profile's token)")
	profileName := fs.String("profile", env.Getenv("ALOFT_PROFILE"), "profile in ~/.config/aloft/config.toml (env ALOFT_PROFILE)")
	fs.BoolVar(&c.json, "json", false, "print machine-readable JSON")
	fs.BoolVar(&c.consistent, "consistent", false, "read from the origin cluster's leader, never from a follower's possibly older state")
	fs.StringVar(&c.caFile, "ca-file", env.Getenv("ALOFT_CA_FILE"), "PEM file of CA certificates to trust for an https:// origin, beside the system's (env ALOFT_CA_FILE, else the profile's ca_file)")
	if cmd.flags != nil {
		cmd.flags(fs, c)
	}
	if cmd.catalog {
		waitFlags(fs, c)
	}
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: aloft %s %s\n\n%s\n\nExample:\n  %s\n\nFlags:\n", name, cmd.usage, cmd.summary, cmd.example)
		fs.PrintDefaults()
	}
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, 0
			}
			return nil, 2
		}
		args = fs.Args()
		if len(args) > 0 {
			c.args = append(c.args, args[0])
			args = args[1:]
		}
	}
	if cmd.catalog && c.set("wait-timeout") {
		if c.waitTimeout <= 0 {
			fmt.Fprintf(env.Stderr, "aloft %s: --wait-timeout must be positive, e.g. 30s\n", name)
			return nil, 2
		}
		c.wait = true
	}
	if !cmd.offline {
		pr, err := loadProfile(env.Getenv, *profileName)
		if err != nil {
			fmt.Fprintf(env.Stderr, "aloft %s: %v\n", name, err)
			return nil, 2
		}
		if c.api == "" {
			c.api = pr.API
		}
		if c.token == "" {
			c.token = pr.Token
		}
		if c.caFile == "" {
			c.caFile = pr.CAFile
		}
	}
	if c.api == "" {
		c.api = "http://127.0.0.1:7070"
	}
	hc, err := httpClient(env.HTTP, c.caFile)
	if err != nil {
		fmt.Fprintf(env.Stderr, "aloft %s: --ca-file: %v\n", name, err)
		return nil, 2
	}
	c.hc = hc
	return c, 0
}

// httpClient is hc (nil: a default with a timeout), trusting caFile's
// certificates beside the system's when caFile is set.
func httpClient(hc *http.Client, caFile string) (*http.Client, error) {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Minute}
	}
	if caFile == "" {
		return hc, nil
	}
	tc, err := api.TLSConfig(caFile)
	if err != nil {
		return nil, err
	}
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	tr, ok := rt.(*http.Transport)
	if !ok {
		return nil, fmt.Errorf("the HTTP client's transport is a %T, which takes no CA", rt)
	}
	tr = tr.Clone()
	tr.TLSClientConfig = tc
	cp := *hc
	cp.Transport = tr
	return &cp, nil
}

func usage(w io.Writer, cmds map[string]*command) {
	fmt.Fprint(w, "aloft — self-hosted live updates for Capacitor apps\n\nUsage:\n  aloft dev [flags]            run origin and edge in one process\n")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  aloft %-22s %s\n", n, cmds[n].summary)
	}
	fmt.Fprint(w, "\nEvery command takes --api (ALOFT_API), --token (ALOFT_TOKEN), --profile (ALOFT_PROFILE),\n"+
		"--ca-file (ALOFT_CA_FILE, for an https:// origin with a private CA) and --json;\n"+
		"commands that change the catalog also take --wait [--wait-timeout 30s]: return once\n"+
		"every live edge serves the change (exit 1 naming those that did not);\n"+
		"add --help for an example. Profiles live in ~/.config/aloft/config.toml:\n\n"+
		"  profile = \"prod\"\n  [profiles.prod]\n  api = \"https://origin.example.com\"\n  token = \"aloft_…\"\n\n")
}

// explain turns an error into a sentence that says what to do.
func explain(err error, c *call) string {
	var ae *api.Error
	switch {
	case errors.As(err, new(x509.UnknownAuthorityError)), errors.As(err, new(*tls.CertificateVerificationError)):
		return fmt.Sprintf("cannot trust the origin's certificate at %s: %v. If it comes from a private CA (or is self-signed), pass that CA's PEM file with --ca-file or ALOFT_CA_FILE.", c.api, err)
	case errors.Is(err, api.ErrUnreachable):
		return fmt.Sprintf("cannot reach the origin at %s: %v. Is `aloft dev` running? Set ALOFT_API or --api.", c.api, err)
	case errors.As(err, &ae) && ae.Status == http.StatusUnauthorized:
		return fmt.Sprintf("the origin refused the token: %s. Set ALOFT_TOKEN (or --token) to a live token (`aloft dev` prints its admin token).", ae.Message)
	case errors.As(err, &ae):
		return fmt.Sprintf("%s (%s)", ae.Message, ae.Code)
	}
	return err.Error()
}

func (c *call) needArgs(n int, what string) error {
	if len(c.args) != n {
		return fmt.Errorf("expected %s; see --help", what)
	}
	return nil
}

func (c *call) print(v any, human string, args ...any) {
	if c.json {
		printJSON(c.env.Stdout, v)
		return
	}
	fmt.Fprintf(c.env.Stdout, human+"\n", args...)
}

// table prints v as JSON with --json, else a tab-aligned table: the header
// line, then the rows rows writes.
func (c *call) table(v any, header string, rows func(w io.Writer)) error {
	if c.json {
		printJSON(c.env.Stdout, v)
		return nil
	}
	tw := tabwriter.NewWriter(c.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	rows(tw)
	return tw.Flush()
}
