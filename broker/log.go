package broker

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/mochi-mqtt/server/v2/packets"
)

// mochiLogHandler wraps the handler given to mochi-mqtt so that its log
// lines stay small and readable:
//   - packets.Packet values (mochi logs whole packets, e.g. on "error
//     processing packet") are replaced by a summary without the payload, so
//     a refused 2 MiB frame does not produce a multi-megabyte log line;
//   - mochi's listener lines with an empty message get one.
type mochiLogHandler struct{ h slog.Handler }

func newMochiLogger(l *slog.Logger) *slog.Logger {
	return slog.New(mochiLogHandler{h: l.Handler()})
}

func (m mochiLogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return m.h.Enabled(ctx, l)
}

func (m mochiLogHandler) Handle(ctx context.Context, r slog.Record) error {
	msg := r.Message
	if msg == "" {
		msg = "mqtt client connection ended"
	}
	nr := slog.NewRecord(r.Time, r.Level, msg, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		nr.AddAttrs(summarizeAttr(a))
		return true
	})
	return m.h.Handle(ctx, nr)
}

func (m mochiLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = summarizeAttr(a)
	}
	return mochiLogHandler{h: m.h.WithAttrs(out)}
}

func (m mochiLogHandler) WithGroup(name string) slog.Handler {
	return mochiLogHandler{h: m.h.WithGroup(name)}
}

func summarizeAttr(a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindAny {
		return a
	}
	switch v := a.Value.Any().(type) {
	case packets.Packet:
		return slog.String(a.Key, summarizePacket(v))
	case *packets.Packet:
		if v != nil {
			return slog.String(a.Key, summarizePacket(*v))
		}
	}
	return a
}

func summarizePacket(pk packets.Packet) string {
	s := fmt.Sprintf("type=%d qos=%d retain=%v id=%d", pk.FixedHeader.Type, pk.FixedHeader.Qos, pk.FixedHeader.Retain, pk.PacketID)
	if pk.TopicName != "" {
		s += fmt.Sprintf(" topic=%q", pk.TopicName)
	}
	if len(pk.Payload) > 0 {
		s += fmt.Sprintf(" payload_bytes=%d", len(pk.Payload))
	}
	for _, f := range pk.Filters {
		s += fmt.Sprintf(" filter=%q", f.Filter)
	}
	return s
}
