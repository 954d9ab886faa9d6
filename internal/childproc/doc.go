// Package childproc has what the test harnesses that run real servers as
// child processes (internal/kafkatest, internal/etcdtest) share: free ports
// to give them, the tail of their logs for a failure message, and process
// attributes that have the kernel kill the child when the test binary dies.
//
//	ports, err := childproc.FreePorts(2)
//	cmd.SysProcAttr = childproc.Attr()
//	t.Log(childproc.TailFile(logPath, 40))
package childproc
