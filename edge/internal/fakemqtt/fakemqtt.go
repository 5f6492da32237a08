// Package fakemqtt is an in-memory stand-in for *mqttx.Client in unit tests:
// exact-topic subscriptions, a switchable connection and a publish hook.
package fakemqtt

import (
	"sync"

	"github.com/facemon/facemon/shared/mqttx"
)

// Message is one published message.
type Message struct {
	Topic   string
	QoS     byte
	Payload []byte
}

// Client implements publish.Client.
type Client struct {
	mu   sync.Mutex
	Down bool
	Sent []Message
	subs map[string][]mqttx.Handler
	// OnPublish, when set, runs (outside the lock) for every message sent.
	OnPublish func(Message)
}

// Publish records the message, or fails with ErrNotConnected when Down.
func (c *Client) Publish(t string, qos byte, _ bool, p []byte) error {
	c.mu.Lock()
	if c.Down {
		c.mu.Unlock()
		return mqttx.ErrNotConnected
	}
	m := Message{t, qos, p}
	c.Sent = append(c.Sent, m)
	hook := c.OnPublish
	c.mu.Unlock()
	if hook != nil {
		hook(m)
	}
	return nil
}

// Subscribe registers h for the exact topic filter.
func (c *Client) Subscribe(filter string, _ byte, h mqttx.Handler) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.subs == nil {
		c.subs = map[string][]mqttx.Handler{}
	}
	c.subs[filter] = append(c.subs[filter], h)
}

// Connected reports !Down.
func (c *Client) Connected() bool { c.mu.Lock(); defer c.mu.Unlock(); return !c.Down }

// SetDown switches the connection.
func (c *Client) SetDown(down bool) { c.mu.Lock(); c.Down = down; c.mu.Unlock() }

// Deliver hands a message to the subscribers of topic t.
func (c *Client) Deliver(t string, p []byte) {
	c.mu.Lock()
	hs := append([]mqttx.Handler(nil), c.subs[t]...)
	c.mu.Unlock()
	for _, h := range hs {
		h(t, p)
	}
}

// Messages returns a copy of what was published.
func (c *Client) Messages() []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Message(nil), c.Sent...)
}
