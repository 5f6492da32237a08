// Package creds manages facemon's credential state directory: the broker
// users file (bcrypt hashes, concrete per-role topic rules), the plaintext
// secrets of the client users this machine runs, the dashboard admin
// password hash, the REST API token and the same users for an external
// Mosquitto (password_file with $7$ PBKDF2-SHA512 hashes, acl_file,
// facemon.conf). See Ensure and Command.
//
// Layout (directory 0700, files 0600, every file written atomically):
//
//	users.yaml                 broker/auth users file
//	secrets/<user>             plaintext password of a client user (not admin)
//	dashboard.bcrypt           bcrypt hash of the admin (dashboard and MQTT) password
//	api-token                  REST API bearer token
//	mosquitto/password_file    mosquitto_passwd format ($7$)
//	mosquitto/acl_file         per-user topic rules
//	mosquitto/facemon.conf     listener, allow_anonymous false, the files above
//
// Plaintext passwords exist only in memory while a user is created or
// rotated (and in secrets/ for client users): the Mosquitto files are
// rewritten whenever a password changes and keep the hashes of the others.
package creds

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/facemon/facemon/broker/auth"
	"github.com/facemon/facemon/shared/fsx"
	"github.com/facemon/facemon/shared/topic"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"
)

// Names inside the state directory.
const (
	FileUsers     = "users.yaml"
	DirSecrets    = "secrets"
	FileDashboard = "dashboard.bcrypt"
	FileAPIToken  = "api-token"
	DirMosquitto  = "mosquitto"
)

// UsersFile returns the broker users file of a state directory.
func UsersFile(dir string) string { return filepath.Join(dir, FileUsers) }

// SecretFile returns where the plaintext password of a client user is kept.
func SecretFile(dir, user string) string { return filepath.Join(dir, DirSecrets, user) }

// DashboardFile returns the dashboard password hash file.
func DashboardFile(dir string) string { return filepath.Join(dir, FileDashboard) }

// APITokenFile returns the REST API token file.
func APITokenFile(dir string) string { return filepath.Join(dir, FileAPIToken) }

// Options says where the state is and what it must contain.
type Options struct {
	Dir string // state directory (created 0700)
	// Cameras get an edge-<camera> user each (Ensure).
	Cameras []string
	// Prefix is the facemon topic prefix and HAPrefix Home Assistant's
	// discovery prefix (default "homeassistant"), for new users' rules.
	Prefix, HAPrefix string
	// BcryptCost for new hashes (default bcrypt.DefaultCost).
	BcryptCost int
	// PBKDF2Iterations for Mosquitto hashes (default 101, as mosquitto_passwd).
	PBKDF2Iterations int
}

func (o *Options) defaults() error {
	if o.Dir == "" {
		return errors.New("creds: no state directory")
	}
	if o.BcryptCost == 0 {
		o.BcryptCost = bcrypt.DefaultCost
	}
	if o.BcryptCost < bcrypt.MinCost || o.BcryptCost > bcrypt.MaxCost {
		return fmt.Errorf("creds: bcrypt cost %d out of range", o.BcryptCost)
	}
	if o.PBKDF2Iterations == 0 {
		o.PBKDF2Iterations = DefaultPBKDF2Iterations
	}
	if strings.ContainsAny(o.Prefix, "+#") || strings.ContainsAny(o.HAPrefix, "+#") {
		return errors.New("creds: topic prefixes must not contain wildcards")
	}
	for _, c := range o.Cameras {
		if !topic.ValidID(c) {
			return fmt.Errorf("creds: camera %q: %w", c, topic.ErrBadID)
		}
	}
	return nil
}

func (o *Options) topics() Topics { return NewTopics(o.Prefix, o.HAPrefix) }

// Credential is a user whose password was just set.
type Credential struct {
	User, Role, Camera string
	Password           string // plaintext, to be shown once
}

// Created is what Ensure generated. Print it once (Banner): it holds the
// only copy of the admin password.
type Created struct {
	Dir string
	// Users are new users (admin included, with the dashboard password).
	Users []Credential
	// Rotated are existing users whose password was regenerated because
	// its secret (or, for admin, dashboard.bcrypt) was missing.
	Rotated []Credential
	// DashboardPassword is set when the admin password was (re)generated.
	DashboardPassword string
	// APIToken is set when the token was generated.
	APIToken string
	// Notes describe upgrades of an existing state directory ("generated
	// the missing api-token"); empty on a fresh one.
	Notes []string
}

// Empty reports whether nothing was generated.
func (c *Created) Empty() bool {
	return len(c.Users) == 0 && len(c.Rotated) == 0 && c.DashboardPassword == "" && c.APIToken == "" && len(c.Notes) == 0
}

// entry is one user in users.yaml as this package writes it.
type entry struct {
	Name         string   `yaml:"name"`
	Role         string   `yaml:"role,omitempty"`
	Camera       string   `yaml:"camera,omitempty"`
	PasswordHash string   `yaml:"password_hash,omitempty"`
	Password     string   `yaml:"password,omitempty"` // hand-written plaintext, kept as is
	Read         []string `yaml:"read,omitempty"`
	Write        []string `yaml:"write,omitempty"`
	ReadWrite    []string `yaml:"readwrite,omitempty"`
}

func (e *entry) rules() (read, write []string) {
	read = append(append(read, e.Read...), e.ReadWrite...)
	write = append(append(write, e.Write...), e.ReadWrite...)
	return read, write
}

// store is a loaded state directory.
type store struct {
	opts   Options
	users  []entry
	mosq   map[string]string // user -> $7$ hash
	dirty  bool              // users.yaml / mosquitto files need writing
	unlock func()            // releases the directory lock
}

// close releases the directory lock.
func (s *store) close() { s.unlock() }

func (s *store) path(elem ...string) string {
	return filepath.Join(append([]string{s.opts.Dir}, elem...)...)
}

// open creates the directory layout (0700) and loads users.yaml and the
// mosquitto hashes if present.
func open(opts Options) (*store, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	s := &store{opts: opts, mosq: map[string]string{}}
	if err := ensureDir(s.path()); err != nil {
		return nil, err
	}
	unlock, err := lockDir(s.path())
	if err != nil {
		return nil, err
	}
	s.unlock = unlock
	if err := s.load(); err != nil {
		unlock()
		return nil, err
	}
	return s, nil
}

func (s *store) load() error {
	for _, d := range []string{DirSecrets, DirMosquitto} {
		if err := ensureDir(s.path(d)); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(s.path(FileUsers))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("creds: %w", err)
	default:
		if _, err := auth.Parse(s.path(FileUsers), data); err != nil {
			return fmt.Errorf("creds: %w", err)
		}
		var doc struct {
			Users []entry `yaml:"users"`
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return fmt.Errorf("creds: users file %s: %w", s.path(FileUsers), err)
		}
		s.users = doc.Users
	}
	if data, err := os.ReadFile(s.path(DirMosquitto, "password_file")); err == nil {
		s.mosq = parsePasswordFile(data)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("creds: %w", err)
	}
	return nil
}

func ensureDir(d string) error {
	if err := os.MkdirAll(d, 0o700); err != nil {
		return fmt.Errorf("creds: %w", err)
	}
	st, err := os.Stat(d)
	if err != nil {
		return fmt.Errorf("creds: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(d, 0o700); err != nil {
			return fmt.Errorf("creds: %w", err)
		}
	}
	return nil
}

func (s *store) find(name string) *entry {
	for i := range s.users {
		if s.users[i].Name == name {
			return &s.users[i]
		}
	}
	return nil
}

// setPassword sets a user's bcrypt and mosquitto hashes (and secret for
// client users) from a new plaintext password.
func (s *store) setPassword(e *entry, pw string, keepSecret bool) error {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), s.opts.BcryptCost)
	if err != nil {
		return fmt.Errorf("creds: %w", err)
	}
	m, err := MosquittoHash(pw, s.opts.PBKDF2Iterations)
	if err != nil {
		return fmt.Errorf("creds: %w", err)
	}
	if keepSecret {
		if err := writeFile(s.path(DirSecrets, e.Name), []byte(pw+"\n")); err != nil {
			return err
		}
	}
	e.PasswordHash, e.Password = string(h), ""
	s.mosq[e.Name] = m
	s.dirty = true
	return nil
}

// setRules replaces a user's rules with its spec's template.
func (s *store) setRules(e *entry, spec Spec) error {
	read, write, err := spec.Rules(s.opts.topics())
	if err != nil {
		return err
	}
	e.Role, e.Camera = spec.Role, spec.Camera
	e.Read, e.Write, e.ReadWrite = nil, nil, nil
	if spec.Role == RoleAdmin {
		e.ReadWrite = read
	} else {
		e.Read, e.Write = read, write
	}
	s.dirty = true
	return nil
}

// upsert creates (with a new password) or updates (rules only) a user.
// created reports whether the user is new; pw is its password then.
func (s *store) upsert(name string, spec Spec) (pw string, created bool, err error) {
	e := s.find(name)
	if e == nil {
		s.users = append(s.users, entry{Name: name})
		e = &s.users[len(s.users)-1]
		created = true
	}
	if err := s.setRules(e, spec); err != nil {
		if created {
			s.users = s.users[:len(s.users)-1]
		}
		return "", false, err
	}
	if created {
		pw = newPassword()
		if err := s.setPassword(e, pw, spec.Role != RoleAdmin); err != nil {
			return "", false, err
		}
	}
	return pw, created, nil
}

// save writes users.yaml and the mosquitto files if anything changed (or
// they are missing).
func (s *store) save() error {
	for _, f := range []string{FileUsers, filepath.Join(DirMosquitto, "password_file"), filepath.Join(DirMosquitto, "acl_file"), filepath.Join(DirMosquitto, "facemon.conf")} {
		if _, err := os.Stat(s.path(f)); err != nil {
			s.dirty = true
		}
	}
	if !s.dirty {
		return nil
	}
	if len(s.users) == 0 {
		return errors.New("creds: no users to write")
	}
	var buf bytes.Buffer
	buf.WriteString(`# facemon MQTT users, generated by the facemon users command
# (facemon-broker users / facemon-recognizer users). Rewritten by
# "users add/rotate": edit with care (comments are not kept). The plaintext
# passwords of client users are in secrets/; admin's is not stored.
`)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(struct {
		Users []entry `yaml:"users"`
	}{s.users}); err != nil {
		return fmt.Errorf("creds: %w", err)
	}
	if _, err := auth.Parse(s.path(FileUsers), buf.Bytes()); err != nil {
		return fmt.Errorf("creds: generated users file is invalid: %w", err)
	}
	// Mosquitto first: users.yaml is what the next run starts from.
	if err := writeFile(s.path(DirMosquitto, "password_file"), passwordFile(s.users, s.mosq)); err != nil {
		return err
	}
	if err := writeFile(s.path(DirMosquitto, "acl_file"), aclFile(s.users)); err != nil {
		return err
	}
	if err := writeFile(s.path(DirMosquitto, "facemon.conf"), []byte(MosquittoConfig(s.opts.Dir, "", 1883))); err != nil {
		return err
	}
	if err := writeFile(s.path(FileUsers), buf.Bytes()); err != nil {
		return err
	}
	s.dirty = false
	return nil
}

// readSecret returns the stored password of a client user ("" if none).
func (s *store) readSecret(name string) (string, error) {
	pw, err := ReadSecretFile(s.path(DirSecrets, name))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return pw, err
}

// ReadSecretFile reads a password or token file: its content without
// surrounding white space. An empty file is an error.
func ReadSecretFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// newPassword returns 144 random bits as 24 URL-safe characters.
func newPassword() string { return randomString(18) }

// NewAPIToken returns 32 random bytes, base64url.
func NewAPIToken() string { return randomString(32) }

// Ensure creates whatever is missing in the state directory: the
// recognizer, admin, homeassistant and edge-<camera> users (for
// opts.Cameras), the client secrets, dashboard.bcrypt, api-token and the
// Mosquitto files. Existing users keep their passwords and rules, except
// that a client user whose secret is missing (which its process needs) or
// admin without dashboard.bcrypt gets a new password. It returns what was
// generated, to be printed once (Created.Banner).
func Ensure(opts Options) (*Created, error) {
	s, err := open(opts)
	if err != nil {
		return nil, err
	}
	defer s.close()
	fresh := len(s.users) == 0
	c := &Created{Dir: opts.Dir}
	note := func(format string, args ...any) {
		if !fresh {
			c.Notes = append(c.Notes, fmt.Sprintf(format, args...))
		}
	}

	// admin: its password is the dashboard's.
	dash, err := os.ReadFile(s.path(FileDashboard))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("creds: %w", err)
	}
	dash = bytes.TrimSpace(dash)
	admin := s.find(UserAdmin)
	switch {
	case len(dash) > 0 && admin != nil:
	case len(dash) > 0:
		if _, err := bcrypt.Cost(dash); err != nil {
			return nil, fmt.Errorf("creds: %s: not a bcrypt hash: %v", s.path(FileDashboard), err)
		}
		s.users = append(s.users, entry{Name: UserAdmin})
		admin = &s.users[len(s.users)-1]
		if err := s.setRules(admin, Spec{Role: RoleAdmin}); err != nil {
			return nil, err
		}
		admin.PasswordHash = string(dash)
		note("added MQTT user admin with the dashboard password; it is missing from mosquitto/password_file until `users rotate admin`")
	default:
		pw := newPassword()
		if admin == nil {
			s.users = append(s.users, entry{Name: UserAdmin})
			admin = &s.users[len(s.users)-1]
			if err := s.setRules(admin, Spec{Role: RoleAdmin}); err != nil {
				return nil, err
			}
			c.Users = append(c.Users, Credential{User: UserAdmin, Role: RoleAdmin, Password: pw})
			note("generated the dashboard / MQTT admin password")
		} else {
			c.Rotated = append(c.Rotated, Credential{User: UserAdmin, Role: RoleAdmin, Password: pw})
			note("%s was missing: generated a new admin password", FileDashboard)
		}
		if err := s.setPassword(admin, pw, false); err != nil {
			return nil, err
		}
		if err := writeFile(s.path(FileDashboard), []byte(admin.PasswordHash+"\n")); err != nil {
			return nil, err
		}
		c.DashboardPassword = pw
	}

	if err := s.migrateRules(note); err != nil {
		return nil, err
	}
	specs := []struct {
		name string
		spec Spec
	}{{UserRecognizer, Spec{Role: RoleRecognizer}}, {UserHomeAssistant, Spec{Role: RoleHomeAssistant}}}
	for _, cam := range opts.Cameras {
		specs = append(specs, struct {
			name string
			spec Spec
		}{EdgeUser(cam), Spec{Role: RoleEdge, Camera: cam}})
	}
	for _, sp := range specs {
		if e := s.find(sp.name); e != nil {
			secret, err := s.readSecret(sp.name)
			if err != nil {
				return nil, fmt.Errorf("creds: %w", err)
			}
			switch {
			case secret == "":
				pw := newPassword()
				if err := s.setPassword(e, pw, true); err != nil {
					return nil, err
				}
				c.Rotated = append(c.Rotated, Credential{User: sp.name, Role: e.Role, Camera: e.Camera, Password: pw})
				note("%s had no stored secret: generated a new password for it", sp.name)
			case s.mosq[sp.name] == "":
				m, err := MosquittoHash(secret, s.opts.PBKDF2Iterations)
				if err != nil {
					return nil, err
				}
				s.mosq[sp.name] = m
				s.dirty = true
				note("added %s to mosquitto/password_file", sp.name)
			}
			continue
		}
		pw, _, err := s.upsert(sp.name, sp.spec)
		if err != nil {
			return nil, err
		}
		c.Users = append(c.Users, Credential{User: sp.name, Role: sp.spec.Role, Camera: sp.spec.Camera, Password: pw})
		note("added MQTT user %s", sp.name)
	}
	if err := s.save(); err != nil {
		return nil, err
	}

	if tok, err := ReadSecretFile(s.path(FileAPIToken)); err != nil || tok == "" {
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !strings.HasSuffix(err.Error(), "is empty") {
			return nil, fmt.Errorf("creds: %w", err)
		}
		c.APIToken = NewAPIToken()
		if err := writeFile(s.path(FileAPIToken), []byte(c.APIToken+"\n")); err != nil {
			return nil, err
		}
		note("generated the missing %s", FileAPIToken)
	}
	return c, nil
}

// AddCamera adds (or, if it exists, updates the rules of) the edge user
// for camera. pw is empty for an existing user (its password is kept).
func AddCamera(opts Options, camera string, viewAll bool) (c Credential, created bool, err error) {
	return add(opts, EdgeUser(camera), Spec{Role: RoleEdge, Camera: camera, ViewAll: viewAll})
}

// AddHomeAssistant adds or updates the homeassistant user.
func AddHomeAssistant(opts Options, commands bool) (Credential, bool, error) {
	return add(opts, UserHomeAssistant, Spec{Role: RoleHomeAssistant, Commands: commands})
}

// AddRecognizer adds or updates a recognizer user (for a second
// recognizer process; the first is "recognizer").
func AddRecognizer(opts Options, name string) (Credential, bool, error) {
	return add(opts, name, Spec{Role: RoleRecognizer})
}

func validUserName(name string) error {
	if !topic.ValidID(name) {
		return fmt.Errorf("user name %q: want 1-64 characters of [A-Za-z0-9_.-]", name)
	}
	return nil
}

func add(opts Options, name string, spec Spec) (Credential, bool, error) {
	if err := validUserName(name); err != nil {
		return Credential{}, false, err
	}
	if name == UserAdmin {
		return Credential{}, false, errors.New("admin is managed by init and `rotate admin`")
	}
	s, err := open(opts)
	if err != nil {
		return Credential{}, false, err
	}
	defer s.close()
	if e := s.find(name); e != nil && e.Role != "" && e.Role != spec.Role {
		return Credential{}, false, fmt.Errorf("user %s exists with role %s", name, e.Role)
	}
	pw, created, err := s.upsert(name, spec)
	if err != nil {
		return Credential{}, false, err
	}
	if err := s.save(); err != nil {
		return Credential{}, false, err
	}
	return Credential{User: name, Role: spec.Role, Camera: spec.Camera, Password: pw}, created, nil
}

// Rotate gives a user a new password (stored as hashes, and in secrets/
// for client users); "admin" also rewrites dashboard.bcrypt. It returns
// the new password.
func Rotate(opts Options, name string) (string, error) {
	s, err := open(opts)
	if err != nil {
		return "", err
	}
	defer s.close()
	e := s.find(name)
	if e == nil {
		return "", fmt.Errorf("no user %q in %s", name, s.path(FileUsers))
	}
	pw := newPassword()
	if err := s.setPassword(e, pw, name != UserAdmin); err != nil {
		return "", err
	}
	if err := s.save(); err != nil {
		return "", err
	}
	if name == UserAdmin {
		if err := writeFile(s.path(FileDashboard), []byte(e.PasswordHash+"\n")); err != nil {
			return "", err
		}
	}
	return pw, nil
}

// RotateAPIToken writes and returns a new API token.
func RotateAPIToken(opts Options) (string, error) {
	s, err := open(opts)
	if err != nil {
		return "", err
	}
	defer s.close()
	tok := NewAPIToken()
	return tok, writeFile(s.path(FileAPIToken), []byte(tok+"\n"))
}

// UserInfo describes a user without secrets.
type UserInfo struct {
	Name, Role, Camera string
	Read, Write        []string
	Secret             bool // secrets/<user> exists
	Mosquitto          bool // in mosquitto/password_file
}

// List returns the users of a state directory, sorted by name.
func List(dir string) ([]UserInfo, error) {
	if _, err := os.Stat(UsersFile(dir)); err != nil {
		return nil, fmt.Errorf("no users file in %s (run `users init`): %w", dir, err)
	}
	s, err := open(Options{Dir: dir})
	if err != nil {
		return nil, err
	}
	defer s.close()
	if len(s.users) == 0 {
		return nil, fmt.Errorf("no users in %s (run `users init`)", s.path(FileUsers))
	}
	var out []UserInfo
	for _, e := range s.users {
		read, write := e.rules()
		_, serr := os.Stat(s.path(DirSecrets, e.Name))
		out = append(out, UserInfo{Name: e.Name, Role: e.Role, Camera: e.Camera, Read: read, Write: write,
			Secret: serr == nil, Mosquitto: s.mosq[e.Name] != ""})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Secret returns the stored password of a client user (secrets/<user>).
func Secret(dir, user string) (string, error) {
	if err := validUserName(user); err != nil {
		return "", err
	}
	pw, err := ReadSecretFile(SecretFile(dir, user))
	if errors.Is(err, fs.ErrNotExist) {
		if user == UserAdmin {
			return "", errors.New("the admin password is not stored (only its hash); use `users rotate admin` for a new one")
		}
		return "", fmt.Errorf("no stored secret for %q in %s", user, filepath.Join(dir, DirSecrets))
	}
	return pw, err
}

// writeFile writes data to path atomically with mode 0600
// (fsx.WriteFileAtomic).
func writeFile(path string, data []byte) error {
	if err := fsx.WriteFileAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("creds: write %s: %w", path, err)
	}
	return nil
}
