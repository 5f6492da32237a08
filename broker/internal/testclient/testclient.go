// Package testclient connects the paho MQTT clients the broker's tests
// drive. Only _test.go files import it.
package testclient

import (
	"errors"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Options are the client options the tests share: MQTT 3.1.1 (no silent
// fallback to 3.1), a clean session, no reconnects or connect retries,
// timeout for connecting and writing, and a lost connection's error sent
// to lost (when it has room).
func Options(url, id string, timeout time.Duration, lost chan<- error) *paho.ClientOptions {
	return paho.NewClientOptions().
		AddBroker(url).
		SetClientID(id).
		SetCleanSession(true).
		SetProtocolVersion(4).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(timeout).
		SetWriteTimeout(timeout).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		})
}

// Connect connects a client with o, waiting up to timeout, and
// disconnects it at the end of the test.
func Connect(t testing.TB, o *paho.ClientOptions, timeout time.Duration) (paho.Client, error) {
	t.Helper()
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(timeout) {
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c, nil
}
