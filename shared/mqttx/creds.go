package mqttx

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// Environment variables every facemon MQTT client reads when the matching
// flag is not given. The password is never taken from a flag value: a
// command line is visible to every user of the machine (ps, /proc).
const (
	EnvUser     = "FACEMON_MQTT_USER"
	EnvPassword = "FACEMON_MQTT_PASSWORD"
)

// Credentials are a client's MQTT user name and password.
type Credentials struct {
	Username string
	Password string
}

// LoadCredentials resolves a client's credentials: username from the flag
// value or $FACEMON_MQTT_USER; password from passwordFile (its first line)
// or $FACEMON_MQTT_PASSWORD. A password without a user name is an error.
// Errors never contain the password.
func LoadCredentials(username, passwordFile string) (Credentials, error) {
	c := Credentials{Username: username}
	if c.Username == "" {
		c.Username = os.Getenv(EnvUser)
	}
	switch {
	case passwordFile != "":
		b, err := os.ReadFile(passwordFile)
		if err != nil {
			return c, fmt.Errorf("--password-file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		c.Password = strings.TrimRight(line, "\r")
		if c.Password == "" {
			return c, fmt.Errorf("--password-file %s: empty", passwordFile)
		}
	default:
		c.Password = os.Getenv(EnvPassword)
	}
	if strings.ContainsAny(c.Username, "\x00\r\n") {
		return c, errors.New("MQTT user name contains a control character")
	}
	if c.Password != "" && c.Username == "" {
		return c, fmt.Errorf("an MQTT password is set but no user name (--username or $%s)", EnvUser)
	}
	return c, nil
}

// URLUser returns the user name in a broker URL's userinfo
// (tcp://user:pass@host), or "". A client's default id must start with the
// user it connects as, wherever the user name came from.
func URLUser(broker string) string {
	u, err := url.Parse(broker)
	if err != nil || u.User == nil {
		return ""
	}
	return u.User.Username()
}

// ClientUser is the user a client connects as: the explicit user name, or
// the broker URL's.
func ClientUser(username, broker string) string {
	if username != "" {
		return username
	}
	return URLUser(broker)
}
