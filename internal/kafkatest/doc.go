// Package kafkatest runs a real Apache Kafka broker for integration tests: a
// single KRaft node, broker and controller in one JVM, started from Kafka's
// own jars as a child process of the test and killed when the test ends.
//
//	func TestShardConsumesItsPartition(t *testing.T) {
//		b := kafkatest.Start(t)
//		b.CreateTopic(t, "samples", 3)
//		cl := b.Client(t, kgo.ConsumerGroup("shards"), kgo.ConsumeTopics("samples"))
//		// ... produce with cl, run the code under test against b.Addr() ...
//	}
//
// The jars come from `make kafka`, which Maven fetches once into the
// module's .cache/kafka/libs (`make test` does it first); Start fails the
// test, naming that command, when they are missing, and it needs a Java 17
// runtime (JAVA_HOME, or java on the PATH). Tests never skip for want of a
// broker.
//
// Each broker listens on free ports of 127.0.0.1 and keeps its data, its
// server.properties and its log (broker.log) in the test's temporary
// directory. Starting one takes about three seconds, most of it the JVM: a
// package whose tests all need Kafka should start one broker in a parent test
// and run the rest as its subtests, each on topics of its own. When Start
// fails, and when a test that used the broker fails, the last lines of the
// broker's log are in the test output.
//
// Addr and LogPath may be called from any goroutine; Client and CreateTopic,
// which fail the test, only from the test's own.
package kafkatest
