module github.com/facemon/facemon/broker

go 1.24.0

require (
	github.com/eclipse/paho.mqtt.golang v1.5.1
	github.com/facemon/facemon/shared v0.0.0
	github.com/gorilla/websocket v1.5.3
	github.com/mochi-mqtt/server/v2 v2.7.9
	golang.org/x/crypto v0.48.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/rs/xid v1.4.0 // indirect
	golang.org/x/net v0.49.0 // indirect
	golang.org/x/sync v0.17.0 // indirect
)

replace github.com/facemon/facemon/shared => ../shared
