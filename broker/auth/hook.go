package auth

import (
	"bytes"
	"log/slog"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Hook is a mochi-mqtt hook enforcing a Users file with default deny:
// connections need a known user and correct password, and every publish,
// subscribe, delivery and will message must be allowed by one of the user's
// rules. It must be the only auth hook on the server (mochi allows an action
// if any hook allows it).
type Hook struct {
	mqtt.HookBase
	users *Users
}

// NewHook returns a hook enforcing users.
func NewHook(users *Users) *Hook {
	return &Hook{users: users}
}

// ID implements mqtt.Hook.
func (h *Hook) ID() string { return "facemon-auth" }

// Provides implements mqtt.Hook.
func (h *Hook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck}, []byte{b})
}

func (h *Hook) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}

// OnConnectAuthenticate implements mqtt.Hook. It also refuses a connection
// whose will topic the user may not publish to (mochi sends wills without
// an ACL check).
func (h *Hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user := string(pk.Connect.Username)
	remote := ""
	if cl != nil {
		remote = cl.Net.Remote
	}
	if !pk.Connect.UsernameFlag || user == "" {
		h.log().Warn("mqtt connect refused: no username", "client", pk.Connect.ClientIdentifier, "remote", remote)
		return false
	}
	if !h.users.Authenticate(user, pk.Connect.Password) {
		h.log().Warn("mqtt connect refused: bad username or password", "user", user, "client", pk.Connect.ClientIdentifier, "remote", remote)
		return false
	}
	if pk.Connect.WillFlag && !h.users.CanWrite(user, pk.Connect.WillTopic) {
		h.log().Warn("mqtt connect refused: will topic not allowed", "user", user, "client", pk.Connect.ClientIdentifier, "topic", pk.Connect.WillTopic, "remote", remote)
		return false
	}
	return true
}

// OnACLCheck implements mqtt.Hook. write=true: topic is a publish topic
// name; write=false: topic is a subscription filter or, at delivery, the
// topic name of a message about to be sent to the client.
func (h *Hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	user := string(cl.Properties.Username)
	if write {
		if h.users.CanWrite(user, topic) {
			return true
		}
		// Debug: a misconfigured publisher at frame rate would flood the log.
		h.log().Debug("mqtt publish denied", "user", user, "client", cl.ID, "topic", topic)
		return false
	}
	if h.users.CanRead(user, topic) {
		return true
	}
	h.log().Warn("mqtt subscribe/receive denied", "user", user, "client", cl.ID, "filter", topic)
	return false
}
