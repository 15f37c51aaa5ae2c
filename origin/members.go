// Cluster members as the replicated state knows them: raft's own
// configuration holds ids and raft addresses; the state adds each node's
// API URL, so any node can forward a write to whichever node leads.

package origin

import "fmt"

type memberRec struct {
	APIURL string
}

func (p *setMemberCmd) target() target { return target{kind: "member", name: p.ID} }
func (p *setMemberCmd) run(s *state, _ int64) (any, bool, error) {
	if p.ID == "" {
		return nil, false, fmt.Errorf("%w: a member needs an id", ErrInvalid)
	}
	s.Members[p.ID] = memberRec{APIURL: p.APIURL}
	return nil, false, nil
}

func (p *deleteMemberCmd) target() target { return target{kind: "member", name: p.ID} }
func (p *deleteMemberCmd) run(s *state, _ int64) (any, bool, error) {
	delete(s.Members, p.ID)
	return nil, false, nil
}
