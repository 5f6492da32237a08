package auth

import (
	"bytes"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/facemon/facemon/shared/ids"
	"github.com/facemon/facemon/shared/netx"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// HookOptions configures a Hook.
type HookOptions struct {
	// AllowAnonymous accepts clients without a username, but only from
	// loopback remote addresses and with a client id no user owns (facemon's
	// anonymous ids start with '@'); they may publish and subscribe to every
	// topic. Clients sending a username are always checked against the
	// users file (and refused without one).
	AllowAnonymous bool
	// Logger receives refusals (default: the server's logger, else
	// slog.Default()).
	Logger *slog.Logger
}

// Hook is a mochi-mqtt hook enforcing a Users file with default deny:
// connections need a known user and correct password, the client id must
// belong to the user (see Users.ClientIDAllowed), and every publish,
// subscribe, delivery and will message must be allowed by one of the user's
// rules. Anonymous clients are refused unless HookOptions.AllowAnonymous,
// and even then accepted only from loopback addresses. It must be the only
// auth hook on the server (mochi allows an action if any hook allows it).
//
// mochi runs OnConnectAuthenticate before it takes over an existing session
// with the same client id, so a refused CONNECT never disconnects the
// client that holds the id.
type Hook struct {
	mqtt.HookBase
	users atomic.Pointer[Users] // nil: no users file (only anonymous loopback clients)
	opts  HookOptions
}

// NewHook returns a hook enforcing users (which may be nil when
// opts.AllowAnonymous is set: then only anonymous loopback clients are
// accepted).
func NewHook(users *Users, opts HookOptions) *Hook {
	h := &Hook{opts: opts}
	h.users.Store(users)
	return h
}

// SetUsers replaces the users (e.g. after the users file changed). Clients
// already connected stay connected; their next publish and subscribe are
// checked against the new rules.
func (h *Hook) SetUsers(users *Users) { h.users.Store(users) }

// ID implements mqtt.Hook.
func (h *Hook) ID() string { return "facemon-auth" }

// Provides implements mqtt.Hook.
func (h *Hook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck}, []byte{b})
}

func (h *Hook) log() *slog.Logger {
	if h.opts.Logger != nil {
		return h.opts.Logger
	}
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
	id := pk.Connect.ClientIdentifier
	remote := ""
	if cl != nil {
		remote = cl.Net.Remote
	}
	if !pk.Connect.UsernameFlag || user == "" {
		switch {
		case !h.opts.AllowAnonymous:
			h.log().Warn("mqtt connect refused: no username (anonymous clients are not allowed)", "client", id, "remote", remote)
			return false
		case !netx.IsLoopback(remote):
			h.log().Warn("mqtt connect refused: anonymous clients are allowed only from loopback", "client", id, "remote", remote)
			return false
		}
		if users := h.users.Load(); users != nil {
			if owner, ok := users.ClientIDOwner(id); ok {
				h.log().Warn("mqtt connect refused: an anonymous client may not use a user's client id (anonymous ids start with '@')",
					"client", id, "owner", owner, "remote", remote)
				return false
			}
		}
		return true
	}
	users := h.users.Load()
	if users == nil {
		h.log().Warn("mqtt connect refused: username given but no users file is configured", "user", user, "client", id, "remote", remote)
		return false
	}
	if !users.Authenticate(user, pk.Connect.Password) {
		h.log().Warn("mqtt connect refused: bad username or password", "user", user, "client", id, "remote", remote)
		return false
	}
	if !users.ClientIDAllowed(user, id) {
		owner, _ := users.ClientIDOwner(id)
		msg := "mqtt connect refused: client id does not belong to the user (want <user> or <user>@<suffix>)"
		if strings.HasPrefix(id, user+"-") && !strings.Contains(id, ids.ClientIDSep) {
			// The form facemon clients used before the '@' separator.
			msg = "mqtt connect refused: client id in the old <user>-<suffix> form; facemon clients now use <user>@<suffix>: upgrade this client"
		}
		h.log().Warn(msg, "user", user, "client", id, "owner", owner, "remote", remote)
		return false
	}
	if pk.Connect.WillFlag && !users.CanWrite(user, pk.Connect.WillTopic) {
		h.log().Warn("mqtt connect refused: will topic not allowed", "user", user, "client", id, "topic", pk.Connect.WillTopic, "remote", remote)
		return false
	}
	return true
}

// OnACLCheck implements mqtt.Hook. write=true: topic is a publish topic
// name; write=false: topic is a subscription filter or, at delivery, the
// topic name of a message about to be sent to the client.
func (h *Hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	user := string(cl.Properties.Username)
	if user == "" {
		// Only accepted anonymously (AllowAnonymous, loopback); guard
		// anyway in case another path let it in.
		return h.opts.AllowAnonymous && (cl.Net.Inline || netx.IsLoopback(cl.Net.Remote))
	}
	users := h.users.Load()
	if users == nil {
		return false
	}
	if write {
		if users.CanWrite(user, topic) {
			return true
		}
		// Debug: a misconfigured publisher at frame rate would flood the log.
		h.log().Debug("mqtt publish denied", "user", user, "client", cl.ID, "topic", topic)
		return false
	}
	if users.CanRead(user, topic) {
		return true
	}
	h.log().Warn("mqtt subscribe/receive denied", "user", user, "client", cl.ID, "filter", topic)
	return false
}
