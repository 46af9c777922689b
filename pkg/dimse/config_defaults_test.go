package dimse

import (
	"reflect"
	"testing"
	"time"

	"github.com/printreg/printreg/pkg/confval"
	"github.com/printreg/printreg/pkg/confval/confvaltest"
)

// TestWithDefaults pins what withDefaults makes of a zero, a negative and
// a set value of every field that has a default.
func TestWithDefaults(t *testing.T) {
	confvaltest.CheckFill(t, func(c Config) Config { return c.withDefaults() }, []confvaltest.Field{
		confvaltest.F("MaxAssociations", 5, DefaultMaxAssociations, DefaultMaxAssociations),
		confvaltest.F("MaxAssociationsPerSource", 3, DefaultMaxAssociationsPerSource, DefaultMaxAssociationsPerSource),
		confvaltest.F("MaxConnections", 9, DefaultMaxAssociations+DefaultMaxAssociations/2+4, DefaultMaxAssociations+DefaultMaxAssociations/2+4),
		confvaltest.F("MaxConnectionsPerAddress", 2, DefaultMaxConnectionsPerAddress, DefaultMaxConnectionsPerAddress),
		confvaltest.F("ReservedConnections", 4, 0, -1),
		confvaltest.F("AssociationRequestTimeout", 3*time.Second, DefaultAssociationRequestTimeout, DefaultAssociationRequestTimeout),
		confvaltest.F("MaxPDULength", confval.ByteSize(64<<10), confval.ByteSize(DefaultMaxPDULength), confval.ByteSize(-1)),
		confvaltest.F("MaxObjectBytes", confval.ByteSize(1<<20), confval.ByteSize(DefaultMaxObjectBytes), confval.ByteSize(DefaultMaxObjectBytes)),
		confvaltest.F("ARTIMTimeout", time.Second, DefaultARTIMTimeout, DefaultARTIMTimeout),
		confvaltest.F("IdleTimeout", time.Second, DefaultIdleTimeout, DefaultIdleTimeout),
		confvaltest.F("WriteTimeout", time.Second, DefaultWriteTimeout, DefaultWriteTimeout),
		confvaltest.F("ShutdownGrace", time.Second, DefaultShutdownGrace, DefaultShutdownGrace),
	})
	// Derived defaults follow the fields they derive from.
	got := Config{MaxAssociations: 10, MaxAssociationsPerSource: 12}.withDefaults()
	if got.MaxConnections != 10+5+4 || got.MaxConnectionsPerAddress != 12 {
		t.Errorf("derived: MaxConnections %d, MaxConnectionsPerAddress %d", got.MaxConnections, got.MaxConnectionsPerAddress)
	}
	if got := (Config{}).withDefaults().TransferSyntaxes; !reflect.DeepEqual(got, DefaultTransferSyntaxes()) {
		t.Errorf("TransferSyntaxes zero: %v", got)
	}
	if got := (Config{TransferSyntaxes: []string{"1.2"}}).withDefaults().TransferSyntaxes; !reflect.DeepEqual(got, []string{"1.2"}) {
		t.Errorf("TransferSyntaxes set: %v", got)
	}
	confvaltest.CheckDefaultsAgree(t, Config.withDefaults, DefaultConfig())
}
