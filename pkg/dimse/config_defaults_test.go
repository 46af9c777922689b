package dimse

import (
	"reflect"
	"testing"
	"time"

	"github.com/printreg/printreg/pkg/confval"
)

// TestWithDefaults pins what withDefaults makes of a zero, a negative and
// a set value of every field that has a default.
func TestWithDefaults(t *testing.T) {
	tests := []struct {
		field string
		// zero and neg are what a zero and a negative value become; set
		// is kept as it is.
		set, zero, neg any
	}{
		{"MaxAssociations", 5, DefaultMaxAssociations, DefaultMaxAssociations},
		{"MaxAssociationsPerSource", 3, DefaultMaxAssociationsPerSource, DefaultMaxAssociationsPerSource},
		{"MaxConnections", 9, DefaultMaxAssociations + DefaultMaxAssociations/2 + 4, DefaultMaxAssociations + DefaultMaxAssociations/2 + 4},
		{"MaxConnectionsPerAddress", 2, DefaultMaxConnectionsPerAddress, DefaultMaxConnectionsPerAddress},
		{"ReservedConnections", 4, 0, -1},
		{"AssociationRequestTimeout", 3 * time.Second, DefaultAssociationRequestTimeout, DefaultAssociationRequestTimeout},
		{"MaxPDULength", confval.ByteSize(64 << 10), confval.ByteSize(DefaultMaxPDULength), confval.ByteSize(-1)},
		{"MaxObjectBytes", confval.ByteSize(1 << 20), confval.ByteSize(DefaultMaxObjectBytes), confval.ByteSize(DefaultMaxObjectBytes)},
		{"ARTIMTimeout", time.Second, DefaultARTIMTimeout, DefaultARTIMTimeout},
		{"IdleTimeout", time.Second, DefaultIdleTimeout, DefaultIdleTimeout},
		{"WriteTimeout", time.Second, DefaultWriteTimeout, DefaultWriteTimeout},
		{"ShutdownGrace", time.Second, DefaultShutdownGrace, DefaultShutdownGrace},
	}
	for _, tc := range tests {
		for _, c := range []struct {
			name    string
			in, out any
		}{{"zero", nil, tc.zero}, {"negative", minusOne(tc.set), tc.neg}, {"set", tc.set, tc.set}} {
			var cfg Config
			if c.in != nil {
				reflect.ValueOf(&cfg).Elem().FieldByName(tc.field).Set(reflect.ValueOf(c.in))
			}
			got := reflect.ValueOf(cfg.withDefaults()).FieldByName(tc.field).Interface()
			if got != c.out {
				t.Errorf("%s %s: got %v, want %v", tc.field, c.name, got, c.out)
			}
		}
	}
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
	// Every default of DefaultConfig is the one withDefaults fills in.
	def := DefaultConfig()
	filled := (Config{}).withDefaults()
	dv, fv := reflect.ValueOf(def), reflect.ValueOf(filled)
	for i := range dv.NumField() {
		if !dv.Field(i).IsZero() && !reflect.DeepEqual(dv.Field(i).Interface(), fv.Field(i).Interface()) {
			t.Errorf("DefaultConfig().%s = %v, withDefaults gives %v", dv.Type().Field(i).Name, dv.Field(i), fv.Field(i))
		}
	}
}

// minusOne returns -1 of the type of v, a number.
func minusOne(v any) any {
	r := reflect.New(reflect.TypeOf(v)).Elem()
	r.SetInt(-1)
	return r.Interface()
}
