// `aloft cluster`: the origin cluster's members and their state, and
// removing a member for good.

package cli

import (
	"context"
	"fmt"
	"io"
)

func clusterCommands() map[string]*command {
	return map[string]*command{
		"cluster status": {summary: "the origin cluster's members: leader, applied index, last contact, voter or not",
			example: "aloft cluster status", run: clusterStatus},
		"cluster remove": {usage: "NODE", summary: "remove a member from the origin cluster for good (stop its process first)",
			example: "aloft cluster remove origin-3", run: clusterRemove},
	}
}

func clusterStatus(ctx context.Context, c *call) error {
	st, err := c.client().ClusterStatus(ctx)
	if err != nil {
		return err
	}
	return c.table(st, "NODE\tSTATE\tVOTER\tAPPLIED\tCOMMITTED\tLAST CONTACT\tAPI\tNOTE", func(w io.Writer) {
		for _, n := range st.Nodes {
			contact := "-"
			switch {
			case n.State == "Leader":
				contact = "(leader)"
			case n.LastContactMS >= 0:
				contact = fmt.Sprintf("%d ms ago", n.LastContactMS)
			}
			state := n.State
			if state == "" {
				state = "unreachable"
			}
			fmt.Fprintf(w, "%s\t%s\t%v\t%d\t%d\t%s\t%s\t%s\n", n.NodeID, state, n.Voter, n.AppliedIndex, n.CommitIndex, contact, n.APIURL, n.Error)
		}
	})
}

func clusterRemove(ctx context.Context, c *call) error {
	if len(c.args) != 1 {
		return fmt.Errorf("name the node to remove: aloft cluster remove NODE (see aloft cluster status)")
	}
	if err := c.client().RemoveNode(ctx, c.args[0]); err != nil {
		return err
	}
	c.print(map[string]string{"removed": c.args[0]}, "removed %s from the cluster", c.args[0])
	return nil
}
