// Cluster members as the replicated state knows them: raft's own
// configuration holds ids and raft addresses; the state adds each node's
// API URL, so any node can forward a write to whichever node leads.

package origin

import "fmt"

type memberRec struct {
	APIURL string
}

func (s *state) applyMember(c Command) error {
	if s.Members == nil {
		// A snapshot from before members existed restores without them.
		s.Members = map[string]memberRec{}
	}
	switch c.Type {
	case cmdSetMember:
		var p setMemberCmd
		if err := decodeInto(c, &p); err != nil {
			return err
		}
		if p.ID == "" {
			return fmt.Errorf("%w: a member needs an id", ErrInvalid)
		}
		s.Members[p.ID] = memberRec{APIURL: p.APIURL}
	case cmdDeleteMember:
		var p deleteMemberCmd
		if err := decodeInto(c, &p); err != nil {
			return err
		}
		delete(s.Members, p.ID)
	}
	return nil
}

// memberURL returns the API URL of node id, "" when unknown.
func (n *Node) memberURL(id string) string {
	var u string
	n.fsm.read(func(s *state) { u = s.Members[id].APIURL })
	return u
}
