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

// TestTokenRoles: every role may do exactly what its scope table says,
// over real HTTP. A request a role may not make answers 403 forbidden
// naming the role; one it may make gets past authorization (whatever the
// handler then says about the request itself).
func TestTokenRoles(t *testing.T) {
	n, admin := startGCNode(t, nil)
	ctx := context.Background()
	secrets := map[string]string{api.RoleAdmin: gcToken}
	for _, role := range []string{api.RolePublish, api.RoleRead, api.RoleEdge} {
		tok, err := admin.CreateToken(ctx, "t-"+role, role)
		if err != nil || tok.Role != role {
			t.Fatalf("create %s: %+v %v", role, tok, err)
		}
		secrets[role] = tok.Secret
	}
	sha := strings.Repeat("a", 64)
	routes := []struct {
		method, path, body string
		allowed            []string
	}{
		{"GET", "/api/v1/apps", "", []string{"admin", "publish", "read"}},
		{"GET", "/api/v1/apps/com.example.app/stats", "", []string{"admin", "publish", "read"}},
		{"POST", "/api/v1/apps", `{"app_id":"x"}`, []string{"admin", "publish"}},
		{"PUT", "/api/v1/apps/com.example.app/channels/beta", `{}`, []string{"admin", "publish"}},
		{"DELETE", "/api/v1/apps/com.example.app/bundles/9.9.9", "", []string{"admin", "publish"}},
		{"PUT", "/api/v1/blobs/" + sha, "x", []string{"admin", "publish"}},
		{"POST", "/api/v1/blobs/missing", `{"sha256":[]}`, []string{"admin", "publish"}},
		{"GET", "/api/v1/blobs/" + sha, "", []string{"admin", "publish", "read", "edge"}},
		{"HEAD", "/api/v1/blobs/" + sha, "", []string{"admin", "publish", "read", "edge"}},
		{"PATCH", "/api/v1/blobs/" + sha, "x", []string{"admin", "publish"}},
		{"GET", "/api/v1/apps/com.example.app/devices", "", []string{"admin", "publish", "read"}},
		{"PUT", "/api/v1/apps/com.example.app/devices/dev-1", `{"channel":"beta"}`, []string{"admin", "publish"}},
		{"PUT", "/api/v1/sync/self-assign", `{}`, []string{"admin", "edge"}},
		{"POST", "/api/v1/blobs/gc", `{"dry_run":true}`, []string{"admin"}},
		{"GET", "/api/v1/tokens", "", []string{"admin"}},
		{"POST", "/api/v1/tokens", `{"name":"new"}`, []string{"admin"}},
		{"GET", "/api/v1/sync/feed?after=0", "", []string{"admin", "edge"}},
		{"GET", "/api/v1/sync/keys", "", []string{"admin", "edge"}},
		{"POST", "/api/v1/sync/keys/rotate", "", []string{"admin"}},
		{"POST", "/api/v1/sync/stats", `{}`, []string{"admin", "edge"}},
	}
	for _, rt := range routes {
		for role, secret := range secrets {
			req, _ := http.NewRequest(rt.method, "http://"+n.APIAddr()+rt.path, strings.NewReader(rt.body))
			req.Header.Set("Authorization", "Bearer "+secret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			e := api.Error{}
			if resp.StatusCode == http.StatusForbidden {
				_ = json.NewDecoder(resp.Body).Decode(&e)
			}
			resp.Body.Close()
			want := slices.Contains(rt.allowed, role)
			switch {
			case resp.StatusCode == http.StatusUnauthorized:
				t.Errorf("%s %s as %s: 401", rt.method, rt.path, role)
			case want && resp.StatusCode == http.StatusForbidden:
				t.Errorf("%s %s as %s: forbidden, want allowed", rt.method, rt.path, role)
			case !want && resp.StatusCode != http.StatusForbidden:
				t.Errorf("%s %s as %s: %d, want 403", rt.method, rt.path, role, resp.StatusCode)
			case !want && (e.Code != api.CodeForbidden || !strings.Contains(e.Message, "role "+role)):
				t.Errorf("%s %s as %s: error %+v does not name the role", rt.method, rt.path, role, e)
			}
		}
	}
	// No token, or a revoked one, is 401 everywhere but health.
	if err := admin.RevokeToken(ctx, "t-read"); err != nil {
		t.Fatal(err)
	}
	var apiErr *api.Error
	if _, err := api.NewClient("http://"+n.APIAddr(), secrets[api.RoleRead], nil).Apps(ctx); !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		t.Fatalf("revoked token: %v", err)
	}
	if _, err := admin.CreateToken(ctx, "bad", "root"); !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
		t.Fatalf("unknown role: %v", err)
	}
	toks, err := admin.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]string{}
	for _, tk := range toks {
		roles[tk.Name] = tk.Role
	}
	if roles["admin"] != api.RoleAdmin || roles["t-edge"] != api.RoleEdge || roles["t-publish"] != api.RolePublish {
		t.Fatalf("token list roles %v", roles)
	}
}

// TestTokenRoles_LegacyTokensStayAdmins: tokens committed before roles
// existed carry no role and keep the full access they had.
func TestTokenRoles_LegacyTokensStayAdmins(t *testing.T) {
	n, _ := startGCNode(t, nil)
	const legacy = "legacy-token-made-before-roles"
	if _, err := n.rn.apply(context.Background(), cmdPutToken, "", putTokenCmd{Hash: hashToken(legacy), Name: "old", Prefix: legacy[:10]}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.svc.authorize(legacy, scopeAdmin); err != nil {
		t.Fatalf("legacy token lost admin: %v", err)
	}
	if _, err := n.svc.authorize("not-a-token", scopeRead); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("unknown token: %v", err)
	}
}

// TestCreateToken_RetryNeverHandsOutAnUnstoredSecret: a token create
// retried under the same key (its first answer lost) returns the stored
// secret when the client chose it, and refuses, saying why, when the
// origin chose it: the secret of the retry was never stored.
func TestCreateToken_RetryNeverHandsOutAnUnstoredSecret(t *testing.T) {
	n, _ := startGCNode(t, nil)
	post := func(key, body string) (int, api.Token, string) {
		req, _ := http.NewRequest("POST", "http://"+n.APIAddr()+api.Prefix+"/tokens", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+gcToken)
		req.Header.Set(api.HeaderIdempotencyKey, key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var tok api.Token
		_ = json.Unmarshal(b, &tok)
		return resp.StatusCode, tok, string(b)
	}
	secret := api.NewSecret()
	body := `{"name":"ci","secret":"` + secret + `"}`
	for range 2 {
		if code, tok, raw := post("key-1", body); code != http.StatusCreated || tok.Secret != secret {
			t.Fatalf("client-chosen secret: %d %s", code, raw)
		}
	}
	if _, err := api.NewClient("http://"+n.APIAddr(), secret, nil).Apps(context.Background()); err != nil {
		t.Fatalf("the returned secret does not work: %v", err)
	}
	code, first, _ := post("key-2", `{"name":"ops"}`)
	if code != http.StatusCreated || first.Secret == "" {
		t.Fatalf("origin-chosen secret: %d", code)
	}
	if code, _, raw := post("key-2", `{"name":"ops"}`); code != http.StatusConflict || !strings.Contains(raw, "revoke it") {
		t.Fatalf("retried origin-chosen create: %d %s", code, raw)
	}
	if code, _, raw := post("key-3", `{"name":"weak","secret":"short"}`); code != http.StatusBadRequest {
		t.Fatalf("weak secret: %d %s", code, raw)
	}
}
