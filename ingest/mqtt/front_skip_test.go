package mqtt

// frontSkip lists the tests run by wirePaths that test what only mochi
// serves, with why; every other wirePaths test runs against the publish
// front end too (its connections on the front end's port, testAddrFront).
var frontSkip = map[string]string{
	"TestBrokerWireMixedPackets":          "expects a SUBACK granting QoS 1; the front end grants QoS 0 (TestFrontSubscribe)",
	"TestBrokerWireRetained":              "expects a SUBACK granting QoS 1; the front end grants QoS 0 (TestFrontSubscribe)",
	"TestBrokerWirePersistentSession":     "persistent sessions are mochi's; the front end reports session present only for QoS 2 records (TestFrontQoS2)",
	"TestBrokerWireWill":                  "its subscriber expects a SUBACK granting QoS 1; the will itself: TestFrontWillPresence",
	"TestBrokerSubscriberBytes":           "MaxSubscriberBytes bounds mochi's copies; a front end subscriber's queue is bounded by frontMaxOut",
	"TestBrokerSubscriberBytesResume":     "MaxSubscriberBytes bounds mochi's copies (sessions kept)",
	"TestBrokerSubscriberBytesSlowReader": "MaxSubscriberBytes bounds mochi's copies; TestFrontSlowReader",
	"TestBrokerSubscriberBytesRetained":   "MaxSubscriberBytes bounds mochi's copies",
	"TestBrokerPendingHandshakesBounded":  "reads mochi's listener; TestFrontPendingHandshakesBounded",
}
