// The decision, pure: given which edges are ready, the addresses each
// view (a client region, or the default) answers with. No I/O, no clock;
// table-tested.

package geodns

import (
	"net/netip"
	"slices"
)

// View is one client region's zone: its name and the regions its clients
// are sent to, nearest first (its own region first).
type View struct {
	Name  string
	Order []string
}

// Views lists the views of c: one per region, in the order their Corefile
// blocks are matched, then DefaultView.
func (c *Config) Views() []View {
	views := make([]View, 0, len(c.Regions)+1)
	all := make([]string, 0, len(c.Regions))
	for _, r := range c.Regions {
		views = append(views, View{Name: r.Name, Order: append([]string{r.Name}, r.Failover...)})
		all = append(all, r.Name)
	}
	def := c.Default
	if len(def) == 0 {
		def = all
	}
	return append(views, View{Name: DefaultView, Order: def})
}

// Answer is what one view answers.
type Answer struct {
	// Region is the region whose edges are answered; "" when no region of
	// the view's order has a ready edge and the answer falls back.
	Region string
	// Addrs are the edges' addresses, sorted, without repeats.
	Addrs []netip.Addr
	// FailOpen marks an answer of edges that are not ready: nothing in
	// the whole cluster is, and an empty answer would be a certain outage
	// while "every probe fails" is as likely the prober's own network.
	FailOpen bool
}

// Plan decides every view's answer: the ready edges of the first region
// in the view's order that has any; else every ready edge of the cluster
// (a region left out of the order still beats no answer); else, failing
// open, every edge of the view's order (every edge at all if the order
// names none).
func Plan(views []View, edges []Edge, ready func(edge string) bool) map[string]Answer {
	out := make(map[string]Answer, len(views))
	for _, v := range views {
		out[v.Name] = plan(v, edges, ready)
	}
	return out
}

func plan(v View, edges []Edge, ready func(string) bool) Answer {
	for _, region := range v.Order {
		if a := addrs(edges, func(e Edge) bool { return e.Region == region && ready(e.Name) }); len(a) > 0 {
			return Answer{Region: region, Addrs: a}
		}
	}
	if a := addrs(edges, func(e Edge) bool { return ready(e.Name) }); len(a) > 0 {
		return Answer{Addrs: a}
	}
	a := addrs(edges, func(e Edge) bool { return slices.Contains(v.Order, e.Region) })
	if len(a) == 0 {
		a = addrs(edges, func(Edge) bool { return true })
	}
	return Answer{Addrs: a, FailOpen: true}
}

func addrs(edges []Edge, keep func(Edge) bool) []netip.Addr {
	var out []netip.Addr
	for _, e := range edges {
		if keep(e) {
			out = append(out, e.Addr)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}
