package loadgen

import "github.com/tumblemetrics/tumble/sample"

// PodRuns calls fn with each run of samples of batch, in order, that share
// a pod label, at most max samples each (max <= 0: no bound), and that pod
// label: the samples of a record keyed by series, as producers should key
// them (the fleet's series each have one pod), so that a raw topic of
// several partitions keeps every series in order.
func PodRuns(batch []sample.Sample, max int, fn func(pod string, run []sample.Sample)) {
	for len(batch) > 0 {
		pod := podOf(&batch[0])
		n := 1
		for n < len(batch) && (max <= 0 || n < max) && podOf(&batch[n]) == pod {
			n++
		}
		fn(pod, batch[:n])
		batch = batch[n:]
	}
}

func podOf(s *sample.Sample) string {
	pod, _ := s.Labels.Get("pod")
	return pod
}
