package clusterstatus

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable writes r for a person: the nodes, then a row per replica
// under its shard's leadership and watermark, then warnings (a shard
// without a leader, a replica that did not report or cannot lead).
func WriteTable(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "cluster of %d shards, %d replicas each, as node %s sees it at %s\n\n",
		r.Shards, r.Replicas, r.Node, time.UnixMilli(r.TimeMs).UTC().Format(time.RFC3339))
	fmt.Fprintln(tw, "NODE\tMEMBER\tREGISTERED\tGRPC\tHTTP")
	for _, n := range r.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.ID, yesNo(n.Member), yesNo(n.Registered), dash(n.GRPCAddr), dash(n.HTTPAddr))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "SHARD\tLEADER\tTERM\tWATERMARK\tOUTPUT LAG\tREPLICA\tSTATE\tROLE\tBEHIND\tLAG RECORDS\tCAN LEAD")
	var warnings []string
	for _, s := range r.Shard {
		head := []string{strconv.Itoa(int(s.Shard)), dash(s.Leader), "-", "-", "-"}
		if s.Term != 0 {
			head[2] = strconv.FormatInt(s.Term, 10)
		}
		if s.WatermarkMs != nil {
			head[3] = time.UnixMilli(*s.WatermarkMs).UTC().Format(time.RFC3339)
		}
		if s.WatermarkLagSeconds != nil {
			head[4] = seconds(*s.WatermarkLagSeconds)
		}
		if s.Leader == "" {
			warnings = append(warnings, fmt.Sprintf("shard %d has no leader: its windows are not emitted", s.Shard))
		}
		for i, rep := range s.Replicas {
			if i > 0 {
				head = []string{"", "", "", "", ""}
			}
			role := "follower"
			if rep.Leading {
				role = "leader"
			}
			behind, lag, canLead := "-", strconv.FormatInt(rep.LagRecords, 10), dash(rep.CanLead)
			if rep.BehindSeconds != nil {
				behind = seconds(*rep.BehindSeconds)
			}
			if rep.Error != "" {
				role, lag, canLead = "?", "-", "-"
				warnings = append(warnings, fmt.Sprintf("shard %d on %s: %s", s.Shard, rep.Node, rep.Error))
			} else if !rep.Leading && rep.CanLead != "" && rep.CanLead != "yes" {
				warnings = append(warnings, fmt.Sprintf("shard %d on %s: %s", s.Shard, rep.Node, rep.CanLead))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", strings.Join(head, "\t"), rep.Node, dash(string(rep.State)), role, behind, lag+"\t"+canLead)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, m := range warnings {
		if _, err := fmt.Fprintln(w, "warning:", m); err != nil {
			return err
		}
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func seconds(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(100 * time.Millisecond).String()
}
