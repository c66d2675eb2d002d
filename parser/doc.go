// Package parser reads and writes flow-log records of the version-2 format
// that AWS, IONOS, IBM and Tencent Flow Logs write: one record a line, fields
// separated by a space,
//
//	2 12345678 7ffd6527-ce80-4e57-a949-f9a45824ebe2 172.17.1.100 172.17.1.101 59113 20756 6 17 1325 1587983051 1587983052 ACCEPT OK
//
// Reader reads whole objects (plain or gzip, sniffed; bounded in line length
// and decompressed size); ParseLine and Layout.Parse parse single lines;
// AppendRecord, AppendHeader and AppendJSON write. The package does no I/O
// beyond the io.Reader it is given.
//
// Rules: "-" (and Tencent's "-1" in a numeric field) means no value. A header
// line names the field order of the lines after it, so AWS custom formats of
// versions 2 to 8 parse, with unknown names kept. A line that does not parse
// is reported as a *LineError naming its line, field and value, and never
// stops the lines after it.
//
// Reading allocates nothing per record once a Reader is warm: records and
// their byte slices are reused and are valid only until the next read.
package parser
