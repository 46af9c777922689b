// Package deid de-identifies DICOM objects under DICOM PS3.15 Annex E: the
// Basic Application Level Confidentiality Profile and its options, applied to
// every element at every depth, with printreg's additions where the table
// alone leaks (unlisted free text, private and UN elements, overlays and
// curves, encapsulated models, dates by VR).
//
// Table E.1-1, Table E.3.10-1 (safe private attributes), Table E.3.4-1 (SR
// concept names) and CID 7050 are generated from the standard's tables in
// standard/ (go generate). Every keyed value — remapped UIDs under 2.25,
// patient pseudonyms, per-patient date offsets — is an HMAC with the site
// secret (pkg/sitekey), so all workers and runs agree without shared state.
//
// An Engine streams one object: the header is parsed, processed and written;
// pixel data and other bulk values are copied byte for byte, never decoded or
// held in memory. Before an object is passed on, every value written is
// searched for every original value the profile removed, replaced or cleaned;
// a hit refuses the object. docs/deid.md describes every rule and choice.
package deid
