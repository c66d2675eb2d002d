// Package objkey names flow-log objects: [prefix/]<name>-<unix-seconds>.log.gz,
// the layout IONOS uses and the collector writes.
package objkey

import (
	"strconv"
	"strings"
)

// Format returns the key of the object of flow log name whose window ends at
// unix second end.
func Format(prefix, name string, end int64) string {
	var b strings.Builder
	if prefix != "" {
		b.WriteString(prefix)
		b.WriteByte('/')
	}
	b.WriteString(name)
	b.WriteByte('-')
	b.WriteString(strconv.FormatInt(end, 10))
	b.WriteString(".log.gz")
	return b.String()
}
