package origin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aloft/aloft/origin/api"
)

// call sends one raw request with secret and returns the status and the
// error body (zero when the answer is not an error).
func call(t *testing.T, n *Node, secret, method, path, body string) (int, api.Error) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+n.APIAddr()+path, strings.NewReader(body))
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e api.Error
	if resp.StatusCode >= 400 {
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &e)
	}
	return resp.StatusCode, e
}

// appPath fills a route pattern's wildcards: app, and fixed values for
// the rest.
func appPath(pattern, app string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	return method, strings.NewReplacer("{app}", app, "{version}", "1.0.0", "{name}", "beta", "{device}", "dev-1").Replace(path)
}

// TestTokenScope_OwnAppOnly: a publish and a read token scoped to com.a
// work on com.a and get 403 forbidden naming com.b and their scope on
// every route under /api/v1/apps/{app} for com.b. The routes come from
// the route table itself, so a route added later is covered too. The
// app list shows com.a only, and the publish token publishes to com.a
// the way the CLI does (blobs, then the bundle).
func TestTokenScope_OwnAppOnly(t *testing.T) {
	n, admin := startGCNode(t, nil)
	ctx := context.Background()
	for _, id := range []string{"com.a", "com.b"} {
		if _, err := admin.CreateApp(ctx, api.CreateApp{AppID: id}); err != nil {
			t.Fatal(err)
		}
	}
	_, table := n.hs.routeTable()
	var appRoutes []route
	for _, rt := range table {
		if strings.Contains(rt.pattern, "{app}") {
			appRoutes = append(appRoutes, rt)
		}
	}
	if len(appRoutes) < 14 {
		t.Fatalf("only %d routes under /apps/{app}: %v", len(appRoutes), appRoutes)
	}
	for _, role := range []string{api.RolePublish, api.RoleRead} {
		tok, err := admin.CreateTokenWith(ctx, api.CreateToken{Name: "a-" + role, Role: role, Apps: []string{"COM.A"}})
		if err != nil || !slices.Equal(tok.Apps, []string{"com.a"}) {
			t.Fatalf("create %s: %+v %v", role, tok, err)
		}
		for _, rt := range appRoutes {
			// A route the role may not use at all is refused for the
			// role first, naming it (TestTokenRoles); any other names
			// the app and the scope.
			mayRole := roleScopes[role]&rt.need != 0
			method, path := appPath(rt.pattern, "com.b")
			code, e := call(t, n, tok.Secret, method, path, `{}`)
			named := strings.Contains(e.Message, "scoped to app com.a, not com.b")
			if !mayRole {
				named = strings.Contains(e.Message, "role "+role)
			}
			if code != http.StatusForbidden || e.Code != api.CodeForbidden || !named {
				t.Errorf("%s %s as %s: %d %+v, want 403 naming com.b and the scope", method, path, role, code, e)
			}
			// App ids are case-insensitive: COM.B is com.b.
			if method == http.MethodGet {
				if code, _ := call(t, n, tok.Secret, method, strings.Replace(path, "com.b", "COM.B", 1), ""); code != http.StatusForbidden {
					t.Errorf("%s %s in capitals as %s: %d", method, path, role, code)
				}
			}
			method, path = appPath(rt.pattern, "COM.A")
			code, e = call(t, n, tok.Secret, method, path, `{}`)
			if code == http.StatusUnauthorized || mayRole && code == http.StatusForbidden || !mayRole && !strings.Contains(e.Message, "role "+role) {
				t.Errorf("%s %s as %s: %d %+v", method, path, role, code, e)
			}
		}
		apps, err := api.NewClient("http://"+n.APIAddr(), tok.Secret, nil).Apps(ctx)
		if err != nil || len(apps) != 1 || apps[0].ID != "com.a" {
			t.Errorf("%s token lists %+v %v, want com.a only", role, apps, err)
		}
	}
	pub, err := admin.CreateTokenWith(ctx, api.CreateToken{Name: "ci-a", Apps: []string{"com.a"}})
	if err != nil {
		t.Fatal(err)
	}
	ci := api.NewClient("http://"+n.APIAddr(), pub.Secret, nil)
	z := zipOf(t, "com.a v1")
	sha := shaOf(z)
	if missing, err := ci.MissingBlobs(ctx, []string{sha}); err != nil || len(missing) != 1 {
		t.Fatalf("missing blobs: %v %v", missing, err)
	}
	if err := ci.UploadBlob(ctx, sha, z, nil); err != nil {
		t.Fatalf("scoped upload: %v", err)
	}
	if ok, err := ci.HasBlob(ctx, sha); !ok || err != nil {
		t.Fatalf("head blob: %v %v", ok, err)
	}
	if _, err := ci.PutBundle(ctx, "com.a", "1.0.0", api.PutBundle{Zip: sha}); err != nil {
		t.Fatalf("publish to com.a: %v", err)
	}
	if _, err := ci.PutChannel(ctx, "com.a", "production", api.PutChannel{Bundle: ptr("1.0.0")}); err != nil {
		t.Fatalf("channel on com.a: %v", err)
	}
	var ae *api.Error
	if _, err := ci.PutBundle(ctx, "com.b", "1.0.0", api.PutBundle{Zip: sha}); !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
		t.Fatalf("publish to com.b: %v", err)
	}
	if bs, err := admin.Bundles(ctx, "com.b"); err != nil || len(bs) != 0 {
		t.Fatalf("com.b has bundles %v %v", bs, err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestTokenScope_CreateApp: a scoped publish token creates an app only
// when its id is in the scope (so an operator can hand CI a token for an
// app that does not exist yet).
func TestTokenScope_CreateApp(t *testing.T) {
	n, admin := startGCNode(t, nil)
	ctx := context.Background()
	tok, err := admin.CreateTokenWith(ctx, api.CreateToken{Name: "ci", Apps: []string{"com.new", "com.a"}})
	if err != nil || !slices.Equal(tok.Apps, []string{"com.a", "com.new"}) {
		t.Fatalf("create: %+v %v", tok, err)
	}
	code, e := call(t, n, tok.Secret, "POST", "/api/v1/apps", `{"app_id":"com.other"}`)
	if code != http.StatusForbidden || !strings.Contains(e.Message, "com.other") || !strings.Contains(e.Message, "com.a, com.new") {
		t.Fatalf("create out of scope: %d %+v", code, e)
	}
	if code, e := call(t, n, tok.Secret, "POST", "/api/v1/apps", `{"app_id":" Com.New "}`); code != http.StatusCreated {
		t.Fatalf("create in scope: %d %+v", code, e)
	}
	if _, err := n.svc.App("com.other"); err == nil {
		t.Fatal("the refused app exists")
	}
}

// TestTokenCreate_ScopeRules: admin and edge tokens are global (a scope
// is refused, saying why); app ids in a scope follow the app id rule and
// are listed lower-case, sorted and without duplicates.
func TestTokenCreate_ScopeRules(t *testing.T) {
	_, admin := startGCNode(t, nil)
	ctx := context.Background()
	var ae *api.Error
	for _, role := range []string{api.RoleAdmin, api.RoleEdge} {
		_, err := admin.CreateTokenWith(ctx, api.CreateToken{Name: "x", Role: role, Apps: []string{"com.a"}})
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || !strings.Contains(ae.Message, "global") {
			t.Errorf("scoped %s token: %v", role, err)
		}
	}
	if _, err := admin.CreateTokenWith(ctx, api.CreateToken{Name: "x", Apps: []string{"not an app"}}); !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		t.Errorf("bad app id: %v", err)
	}
	if _, err := admin.CreateTokenWith(ctx, api.CreateToken{Name: "r", Role: api.RoleRead, Apps: []string{"com.b", "COM.A", "com.b"}}); err != nil {
		t.Fatal(err)
	}
	toks, err := admin.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range toks {
		if tk.Name == "r" && !slices.Equal(tk.Apps, []string{"com.a", "com.b"}) {
			t.Fatalf("listed scope %v", tk.Apps)
		}
	}
}

// TestTokenScope_AuditAndUnauthenticatedRouting: a scoped token reads
// only its apps' audit entries; a request without a token is never made
// consistent (a barrier is a log entry) nor forwarded.
func TestTokenScope_AuditAndUnauthenticatedRouting(t *testing.T) {
	n, admin := startGCNode(t, nil)
	ctx := context.Background()
	if _, err := admin.CreateApp(ctx, api.CreateApp{AppID: "com.b"}); err != nil {
		t.Fatal(err)
	}
	tok, err := admin.CreateTokenWith(ctx, api.CreateToken{Name: "a-reader", Role: api.RoleRead, Apps: []string{"com.example.app"}})
	if err != nil {
		t.Fatal(err)
	}
	page, err := api.NewClient("http://"+n.APIAddr(), tok.Secret, nil).Audit(ctx, api.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) == 0 {
		t.Fatal("the scoped token sees none of its own app's history")
	}
	for _, e := range page.Entries {
		if e.App != "com.example.app" {
			t.Fatalf("a token scoped to com.example.app read %+v", e)
		}
	}
	before := n.rn.raft.LastIndex()
	for range 5 {
		if code, _ := call(t, n, "", "GET", "/healthz?consistent=true", ""); code != 200 {
			t.Fatalf("healthz: %d", code)
		}
	}
	if after := n.rn.raft.LastIndex(); after != before {
		t.Fatalf("unauthenticated consistent reads wrote %d log entries", after-before)
	}
}
