package origin

import (
	"context"
	"strings"
	"testing"

	"github.com/aloft/aloft/origin/api"
)

// TestPreview_Grants: a preview is in the catalog as its token's hash
// (never the token), lists without the token, is refused in words for
// bad requests, is dropped with its bundle, and revoked on request.
func TestPreview_Grants(t *testing.T) {
	n, cl := guardNode(t, api.GuardPause)
	ctx := context.Background()
	p, err := cl.CreatePreview(ctx, "com.example.app", api.CreatePreview{Bundle: "1.1.0", EdgeURL: "https://updates.example.com/"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.PayloadURL, "https://updates.example.com/preview/com.example.app/pv_") || p.Expires-p.Created != 7*24*3600*1000 {
		t.Fatalf("preview %+v", p)
	}
	g := n.Catalog().Apps["com.example.app"].Previews[p.ID]
	if g == nil || g.Hash != api.PreviewTokenHash(p.Token) || g.Bundle != "1.1.0" {
		t.Fatalf("grant %+v", g)
	}
	list, err := cl.Previews(ctx, "com.example.app")
	if err != nil || len(list) != 1 || list[0].Token != "" || list[0].PayloadURL != "" {
		t.Fatalf("list %+v, %v", list, err)
	}
	entries, _, _ := cl.AuditAll(ctx, "com.example.app")
	for _, e := range entries {
		if strings.Contains(e.After, g.Hash) || strings.Contains(e.After, p.Token) {
			t.Fatalf("the audit log shows the token or its hash: %+v", e)
		}
	}
	for _, c := range []struct {
		req  api.CreatePreview
		want string
	}{
		{api.CreatePreview{EdgeURL: "https://x.example.com"}, "bundle or channel"},
		{api.CreatePreview{Bundle: "1.1.0", Channel: "production", EdgeURL: "https://x.example.com"}, "bundle or channel"},
		{api.CreatePreview{Bundle: "1.1.0", TTLSeconds: 100 * 86400, EdgeURL: "https://x.example.com"}, "ttl_seconds"},
		{api.CreatePreview{Bundle: "1.1.0", EdgeURL: "x.example.com"}, "edge url"},
		{api.CreatePreview{Bundle: "1.1.0"}, "no edge URL known"},
	} {
		_, err := cl.CreatePreview(ctx, "com.example.app", c.req)
		if ae, ok := err.(*api.Error); !ok || ae.Status != 400 || !strings.Contains(ae.Message, c.want) {
			t.Errorf("%+v: %v, want 400 with %q", c.req, err, c.want)
		}
	}
	if _, err := cl.CreatePreview(ctx, "com.example.app", api.CreatePreview{Bundle: "7.7.7", EdgeURL: "https://x.example.com"}); err == nil || err.(*api.Error).Status != 404 {
		t.Errorf("preview of a missing bundle: %v, want 404", err)
	}
	// The rollout stops serving 1.1.0; deleting it drops its preview.
	if _, err := cl.PutChannel(ctx, "com.example.app", "production", api.PutChannel{ClearRollout: true}); err != nil {
		t.Fatal(err)
	}
	if err := cl.DeleteBundle(ctx, "com.example.app", "1.1.0"); err != nil {
		t.Fatal(err)
	}
	if n.Catalog().Apps["com.example.app"].Previews[p.ID] != nil {
		t.Fatal("a deleted bundle's preview is still in the catalog")
	}
	ch, err := cl.CreatePreview(ctx, "com.example.app", api.CreatePreview{Channel: "production", TTLSeconds: 60, EdgeURL: "https://x.example.com"})
	if err != nil || !strings.HasPrefix(ch.DeepLink, "capgo://preview/channel?") || !strings.Contains(ch.DeepLink, "channel=production") {
		t.Fatalf("channel preview %+v, %v", ch, err)
	}
	if err := cl.RevokePreview(ctx, "com.example.app", ch.ID); err != nil {
		t.Fatal(err)
	}
	if err := cl.RevokePreview(ctx, "com.example.app", ch.ID); err == nil || err.(*api.Error).Status != 404 {
		t.Errorf("second revoke: %v, want 404", err)
	}
}

// TestPreview_FeedCarriesPreviewedBundles: a bundle no channel serves is
// in the edges' feed while a preview opens it, and its grant is in the
// app record.
func TestPreview_FeedCarriesPreviewedBundles(t *testing.T) {
	n, cl := guardNode(t, api.GuardPause)
	ctx := context.Background()
	if _, err := cl.PutBundleZip(ctx, "com.example.app", "2.0.0", zipOf(t, "2.0.0")); err != nil {
		t.Fatal(err)
	}
	p, err := cl.CreatePreview(ctx, "com.example.app", api.CreatePreview{Bundle: "2.0.0", EdgeURL: "https://x.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	var bundle, grant bool
	waitFeedIndex(t, n, n.Catalog().Index)
	for _, r := range feedAfter(t, n, 0, 0).Records {
		if r.App == "com.example.app" && r.Kind == api.KindBundle && r.Name == "2.0.0" {
			bundle = true
		}
		if r.App == "com.example.app" && r.Kind == api.KindApp && strings.Contains(string(r.Body), api.PreviewTokenHash(p.Token)) {
			grant = true
		}
	}
	if !bundle || !grant {
		t.Fatalf("feed: previewed bundle %v, grant %v; want both", bundle, grant)
	}
}
