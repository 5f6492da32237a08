// Package auth implements facemon's MQTT authentication and topic
// authorisation: a YAML users file with bcrypt password hashes and per-user
// read/write topic rules, enforced by a mochi-mqtt hook with default deny.
package auth

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/facemon/facemon/shared/ids"
	"github.com/facemon/facemon/shared/mqttfilter"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"
)

// User is one entry of a users file.
type User struct {
	Name string
	// Read lists the topic filters the user may subscribe to (a subscription
	// is allowed only if it is fully inside one of them) and receive from.
	Read []string
	// Write lists the topic filters the user may publish to (including its
	// will message).
	Write []string
	// Role and Camera are informational (optional `role:` and `camera:`
	// fields, written by the users command); the rules above are what is
	// enforced.
	Role, Camera string

	hash      []byte // bcrypt hash
	plaintext []byte // plaintext password (discouraged), used when hash is nil
}

// Plaintext reports whether the user's password is stored in plaintext.
func (u *User) Plaintext() bool { return u.hash == nil }

// Users is a parsed users file. It is safe for concurrent use (read-only).
type Users struct {
	file  string
	users map[string]*User

	dummyOnce sync.Once
	dummyCost int    // bcrypt cost of the file's hashes, for dummyHash
	dummyHash []byte // compared against for unknown users (timing)
}

// File returns the name of the file the users were loaded from.
func (us *Users) File() string { return us.file }

// Names returns the sorted user names.
func (us *Users) Names() []string {
	names := make([]string, 0, len(us.users))
	for n := range us.users {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// PlaintextUsers returns the sorted names of users whose password is stored
// in plaintext rather than as a bcrypt hash.
func (us *Users) PlaintextUsers() []string {
	var names []string
	for n, u := range us.users {
		if u.Plaintext() {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// User returns the named user.
func (us *Users) User(name string) (*User, bool) {
	u, ok := us.users[name]
	return u, ok
}

// SameSecret reports whether the named user exists in both us and other
// with the same stored password (hash or plaintext), so a client that
// authenticated against us is still authenticated under other.
func (us *Users) SameSecret(name string, other *Users) bool {
	if us == nil || other == nil {
		return false
	}
	a, ok1 := us.users[name]
	b, ok2 := other.users[name]
	return ok1 && ok2 && bytes.Equal(a.hash, b.hash) && bytes.Equal(a.plaintext, b.plaintext)
}

// Authenticate reports whether password is correct for the named user.
// Unknown users cost the same bcrypt comparison as known ones.
func (us *Users) Authenticate(name string, password []byte) bool {
	u, ok := us.users[name]
	if !ok {
		us.dummyOnce.Do(func() {
			cost := us.dummyCost
			if cost == 0 {
				cost = bcrypt.DefaultCost
			}
			us.dummyHash, _ = bcrypt.GenerateFromPassword([]byte("facemon-dummy"), cost)
		})
		_ = bcrypt.CompareHashAndPassword(us.dummyHash, password)
		return false
	}
	if u.hash != nil {
		return bcrypt.CompareHashAndPassword(u.hash, password) == nil
	}
	return subtle.ConstantTimeCompare(u.plaintext, password) == 1
}

// CanRead reports whether the user may subscribe to the filter (which may be
// a "$share/<group>/<filter>" shared subscription) or receive a message
// published on the topic name. A subscription is allowed only if every topic
// it can match is inside one of the user's read rules.
func (us *Users) CanRead(name, filter string) bool {
	u, ok := us.users[name]
	if !ok {
		return false
	}
	f, ok := mqttfilter.StripShare(filter)
	if !ok {
		return false
	}
	for _, r := range u.Read {
		if mqttfilter.Covers(r, f) {
			return true
		}
	}
	return false
}

// CanWrite reports whether the user may publish to the topic name.
func (us *Users) CanWrite(name, topic string) bool {
	u, ok := us.users[name]
	if !ok || mqttfilter.ValidateTopic(topic) != nil {
		return false
	}
	for _, r := range u.Write {
		if mqttfilter.Match(r, topic) {
			return true
		}
	}
	return false
}

// ClientIDOwner returns the user a client id belongs to: the user named by
// the id's owner part (ids.ClientIDOwner: the id itself, or what precedes
// its '@'), so "edge-door@pi-ab12" belongs to "edge-door" whatever other
// users exist (user names cannot contain '@', so no user's ids are also
// another's). ok is false if no user owns the id; an anonymous client's id
// ("@...") is never owned.
func (us *Users) ClientIDOwner(id string) (owner string, ok bool) {
	owner = ids.ClientIDOwner(id)
	if _, ok = us.users[owner]; !ok || owner == "" {
		return "", false
	}
	return owner, true
}

// ClientIDAllowed reports whether the named user may connect with client
// id: the id must be owned by the user (see ClientIDOwner): "<user>" or
// "<user>@<anything>", so no user can take over another user's session.
// An empty id (the broker assigns a random one) is allowed.
func (us *Users) ClientIDAllowed(user, id string) bool {
	if id == "" {
		return true
	}
	owner, ok := us.ClientIDOwner(id)
	return ok && owner == user
}

// LoadFile reads and parses a users file. Errors name the file and, where
// possible, the line.
func LoadFile(path string) (*Users, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	return Parse(path, data)
}

// Parse parses users-file content; name is used in error messages.
//
// Format:
//
//	users:
//	  - name: edge
//	    password_hash: "$2a$10$..."   # bcrypt; see `facemon-broker hash-password`
//	    # password: "plain"           # plaintext: accepted, but logged loudly
//	    read: [cam/+/annotated]
//	    write: [cam/+/frames]
//	    readwrite: [facemon/status/edge/+]
//	    role: edge                     # optional, informational
//	    camera: door                   # optional, informational
func Parse(name string, data []byte) (*Users, error) {
	fail := func(line int, format string, args ...any) error {
		if line > 0 {
			return fmt.Errorf("users file %s: line %d: %s", name, line, fmt.Sprintf(format, args...))
		}
		return fmt.Errorf("users file %s: %s", name, fmt.Sprintf(format, args...))
	}

	var doc fileDoc
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fail(0, "file is empty; at least one user is required")
		}
		return nil, fmt.Errorf("users file %s: %w", name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fail(extra.Line, "only one YAML document is allowed")
	}
	if len(doc.Users) == 0 {
		return nil, fail(0, "no users defined (expected a top-level 'users:' list)")
	}

	us := &Users{file: name, users: make(map[string]*User, len(doc.Users))}
	for _, e := range doc.Users {
		n := strings.TrimSpace(e.Name.Value)
		if n == "" {
			return nil, fail(e.line, "user without a name")
		}
		if n != e.Name.Value || strings.ContainsAny(n, "\x00") {
			return nil, fail(e.Name.Line, "user name %q must not have surrounding spaces or NUL", e.Name.Value)
		}
		if strings.Contains(n, ids.ClientIDSep) {
			return nil, fail(e.Name.Line, "user name %q must not contain %q (it separates the user from the rest of a client id: <user>%s<suffix>)", n, ids.ClientIDSep, ids.ClientIDSep)
		}
		if _, dup := us.users[n]; dup {
			return nil, fail(e.Name.Line, "duplicate user %q", n)
		}
		u := &User{Name: n, Role: e.Role.Value, Camera: e.Camera.Value}
		switch {
		case e.PasswordHash.set && e.Password.set:
			return nil, fail(e.Password.Line, "user %q: set either password_hash or password, not both", n)
		case e.PasswordHash.set:
			h := []byte(e.PasswordHash.Value)
			cost, err := bcrypt.Cost(h)
			if err != nil {
				return nil, fail(e.PasswordHash.Line, "user %q: password_hash is not a bcrypt hash (%v); generate one with `facemon-broker hash-password`", n, err)
			}
			us.dummyCost = max(us.dummyCost, cost)
			u.hash = h
		case e.Password.set:
			if e.Password.Value == "" {
				return nil, fail(e.Password.Line, "user %q: empty password", n)
			}
			if _, err := bcrypt.Cost([]byte(e.Password.Value)); err == nil {
				return nil, fail(e.Password.Line, "user %q: password looks like a bcrypt hash; put it in password_hash instead", n)
			}
			u.plaintext = []byte(e.Password.Value)
		default:
			return nil, fail(e.line, "user %q: password_hash is required", n)
		}
		for _, list := range []struct {
			items       []lineString
			read, write bool
		}{{e.Read, true, false}, {e.Write, false, true}, {e.ReadWrite, true, true}} {
			for _, f := range list.items {
				if err := mqttfilter.ValidateFilter(f.Value); err != nil {
					return nil, fail(f.Line, "user %q: %v", n, err)
				}
				if list.read {
					u.Read = append(u.Read, f.Value)
				}
				if list.write {
					u.Write = append(u.Write, f.Value)
				}
			}
		}
		us.users[n] = u
	}
	return us, nil
}

type fileDoc struct {
	Users []userEntry `yaml:"users"`
}

type userEntry struct {
	line         int
	Name         lineString   `yaml:"name"`
	PasswordHash lineString   `yaml:"password_hash"`
	Password     lineString   `yaml:"password"`
	Read         []lineString `yaml:"read"`
	Write        []lineString `yaml:"write"`
	ReadWrite    []lineString `yaml:"readwrite"`
	Role         lineString   `yaml:"role"`
	Camera       lineString   `yaml:"camera"`
}

var userKeys = map[string]bool{"name": true, "password_hash": true, "password": true, "read": true, "write": true, "readwrite": true, "role": true, "camera": true}

func (e *userEntry) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: each user must be a mapping (name, password_hash, read, write, readwrite)", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !userKeys[k.Value] {
			return fmt.Errorf("line %d: unknown user field %q (allowed: name, password_hash, password, read, write, readwrite, role, camera)", k.Line, k.Value)
		}
	}
	type plain userEntry // no UnmarshalYAML: avoids recursion
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*e = userEntry(p)
	e.line = n.Line
	return nil
}

// lineString is a YAML scalar that remembers its line.
type lineString struct {
	Value string
	Line  int
	set   bool
}

func (l *lineString) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a string", n.Line)
	}
	l.Value, l.Line, l.set = n.Value, n.Line, true
	return nil
}
