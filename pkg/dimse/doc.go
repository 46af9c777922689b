// Package dimse is a DICOM upper-layer (PS3.8) and DIMSE (PS3.7) server for
// the storage service: association negotiation, P-DATA with fragmented PDVs,
// release, abort, the ARTIM timer, C-ECHO and C-STORE.
//
// It exists so that a hospital's PACS can forward studies to printreg with
// an ordinary routing rule. It is written on the standard library: the wire
// format is small, and owning it lets every length field be checked against
// a cap before anything is allocated, which the fuzz targets exercise.
//
// The server never buffers an instance: data set fragments are streamed to
// the Handler's sink as they arrive, and the C-STORE response is sent only
// after the sink says the instance is durable. An association that aborts,
// times out or breaks the protocol mid-instance has its sink aborted, so
// nothing partial is kept.
//
// Connections are counted as they are accepted, before anything is read:
// one over the per-address or total limit, or from outside the networks of
// the configured sources when every source lists networks, is closed at
// once. Part of the connections is reserved for addresses inside those
// networks, and a connection has a few seconds (not the ARTIM timer) to send
// its whole association request, so that silent or hostile hosts cannot
// keep a known PACS out.
//
// A small client (Dial, Echo, Store) is included for tests and tools.
package dimse
