package origin

import (
	"errors"
	"strings"
	"testing"
)

// TestDecodeCommand_Versions: every version up to commandVersion decodes
// (keeping the version it was written in), anything else is refused by
// name.
func TestDecodeCommand_Versions(t *testing.T) {
	for _, tc := range []struct {
		entry   string
		version int
		actor   string
		refuse  string // "" accepts
	}{
		{`{"t":1,"v":1,"k":"k","ts":5,"d":{"app_id":"com.example.app"}}`, 1, "", ""},
		{`{"t":1,"v":2,"k":"k","ts":5,"a":"ci","d":{"app_id":"com.example.app"}}`, 2, "ci", ""},
		{`{"t":13,"v":3,"k":"k","ts":5,"a":"ci","d":{"app":"com.example.app","keep_last":3}}`, 3, "ci", ""},
		{`{"t":15,"v":5,"k":"k","ts":5,"a":"ci","d":{"items":[]}}`, 5, "ci", ""},
		{`{"t":16,"v":6,"k":"k","ts":5,"a":"ci","d":{"app":"com.example.app","id":"wh_1"}}`, 6, "ci", ""},
		{`{"t":1,"v":7,"ts":5,"a":"ci","d":{}}`, 0, "", "version 7 (this build reads versions 1 to 6"},
		{`{"t":17,"v":5,"a":"ci","d":{}}`, 0, "", "webhook, app policy and schedule entries start at version 6"},
		{`{"t":15,"v":4,"a":"ci","d":{}}`, 0, "", "batched override entries start at version 5"},
		{`{"t":14,"v":3,"a":"ci","d":{}}`, 0, "", "signing key entries start at version 4"},
		{`{"t":13,"v":2,"a":"ci","d":{}}`, 0, "", "retention entries start at version 3"},
		{`{"t":1,"v":0,"ts":5,"d":{}}`, 0, "", "version 0"},
		{`{"t":1,"ts":5,"d":{}}`, 0, "", "version 0"},
		{`{"t":1,"v":1,"a":"ci","d":{}}`, 0, "", "a version 1 entry names an actor"},
		{`{"t":0,"v":2,"d":{}}`, 0, "", "type 0"},
		{`{"t":24,"v":6,"d":{}}`, 0, "", "type 24"},
		{`{"t":18,"v":5,"a":"ci","d":{}}`, 0, "", "webhook, app policy and schedule entries start at version 6"},
		{`{"t":1,"v":2,"d":`, 0, "", "unexpected end"},
	} {
		c, err := DecodeCommand([]byte(tc.entry))
		if tc.refuse != "" {
			if !errors.Is(err, ErrBadCommand) || !strings.Contains(err.Error(), tc.refuse) {
				t.Errorf("%s: got %v, want ErrBadCommand with %q", tc.entry, err, tc.refuse)
			}
			continue
		}
		if err != nil || c.Version != tc.version || c.Actor != tc.actor || c.Time != 5 || c.Key != "k" {
			t.Errorf("%s: got %+v, %v", tc.entry, c, err)
		}
	}
}
