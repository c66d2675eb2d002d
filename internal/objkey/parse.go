package objkey

import (
	"strconv"
	"strings"
	"time"
)

// Layout is a family of object keys.
type Layout uint8

const (
	// Other is any key ending .log, .log.gz, .log.zst, .parquet, .json or .json.gz: the time comes
	// from the object's modification time.
	Other Layout = iota
	// IONOS is [prefix/]<name>-<unix end>.log.gz, as IONOS Flow Logs and the
	// collector write.
	IONOS
	// AWS is AWSLogs/<account>/vpcflowlogs/<region>/<yyyy>/<mm>/<dd>/[<HH>/]<file>
	// with file <account>_vpcflowlogs_<region>_<flow log id>_<yyyymmddTHHmmZ>_<hash>.log.gz,
	// or its Hive-compatible form (aws-account-id=…/aws-service=vpcflowlogs/aws-region=…/year=…/month=…/day=…/[hour=…/]);
	// the hour folders are AWS's hourly partitions.
	AWS
	// IBM is IBM Cloud Flow Logs for VPC: ibm_vpc_flowlogs_v1/account=…/region=…/…/
	// stream-id=<yyyymmddTHHMMSSZ>/<n>.gz, JSON objects.
	IBM
)

func (l Layout) String() string {
	switch l {
	case IONOS:
		return "ionos"
	case AWS:
		return "aws"
	case IBM:
		return "ibm"
	}
	return "other"
}

// Info is what a key tells about its object.
type Info struct {
	Layout  Layout
	Time    time.Time // IONOS: window end; AWS: the file's time stamp; Other: zero
	Name    string    // IONOS: flow log name; AWS: flow log id
	Account string    // AWS only
	Region  string    // AWS only
}

// Parse reads a key. It reports false for keys that are not flow-log objects
// by their name (folders, other extensions, hidden and temporary files).
func Parse(key string) (Info, bool) {
	base := key[strings.LastIndexByte(key, '/')+1:]
	if base == "" || base[0] == '.' {
		return Info{}, false
	}
	if info, ok := parseIBM(key, base); ok {
		return info, true
	}
	stem, ok := trimExt(base)
	if !ok {
		return Info{}, false
	}
	if info, ok := parseAWS(key, stem); ok {
		return info, true
	}
	if info, ok := parseIONOS(stem); ok {
		return info, true
	}
	return Info{Layout: Other}, true
}

func trimExt(base string) (string, bool) {
	for _, ext := range []string{".log.gz", ".json.gz", ".log.zst", ".log.parquet", ".parquet", ".log", ".json"} {
		if s, ok := strings.CutSuffix(base, ext); ok && s != "" {
			return s, true
		}
	}
	return "", false
}

// parseIONOS reads <name>-<unix seconds>.
func parseIONOS(stem string) (Info, bool) {
	i := strings.LastIndexByte(stem, '-')
	if i < 1 {
		return Info{}, false
	}
	digits := stem[i+1:]
	if len(digits) < 9 || len(digits) > 11 || digits[0] == '0' || !allDigits(digits) {
		return Info{}, false
	}
	sec, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return Info{}, false
	}
	return Info{Layout: IONOS, Time: time.Unix(sec, 0).UTC(), Name: stem[:i]}, true
}

// parseAWS reads the file name <account>_vpcflowlogs_<region>_<id>_<yyyymmddTHHmmZ>_<hash>
// of a key under an AWSLogs folder.
func parseAWS(key, stem string) (Info, bool) {
	if !strings.Contains(key, "AWSLogs/") {
		return Info{}, false
	}
	parts := strings.Split(stem, "_")
	if len(parts) != 6 || parts[1] != "vpcflowlogs" || !allDigits(parts[0]) {
		return Info{}, false
	}
	t, err := time.Parse("20060102T1504Z", parts[4])
	if err != nil {
		return Info{}, false
	}
	return Info{Layout: AWS, Time: t.UTC(), Name: parts[3], Account: parts[0], Region: parts[2]}, true
}

// parseIBM reads the Hive-style folders of an IBM Cloud Flow Logs object.
func parseIBM(key, base string) (Info, bool) {
	if !strings.Contains(key, "ibm_vpc_flowlogs_v1/") || !strings.HasSuffix(base, ".gz") {
		return Info{}, false
	}
	info := Info{Layout: IBM}
	for _, part := range strings.Split(key, "/") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		switch k {
		case "account":
			info.Account = v
		case "region":
			info.Region = v
		case "vnic-id", "endpoint-id":
			info.Name = v
		case "stream-id":
			if t, err := time.Parse("20060102T150405Z", v); err == nil {
				info.Time = t.UTC()
			}
		}
	}
	return info, true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// DayPrefixes returns the prefixes under an AWS region folder (…/vpcflowlogs/<region>/,
// plain or Hive-compatible) that can hold objects of the days from since to until.
func DayPrefixes(regionFolder string, hive bool, since, until time.Time) []string {
	if !strings.HasSuffix(regionFolder, "/") {
		regionFolder += "/"
	}
	var out []string
	day := time.Date(since.Year(), since.Month(), since.Day(), 0, 0, 0, 0, time.UTC)
	for !day.After(until) {
		if hive {
			out = append(out, regionFolder+day.Format("year=2006/month=01/day=02/"))
		} else {
			out = append(out, regionFolder+day.Format("2006/01/02/"))
		}
		day = day.AddDate(0, 0, 1)
	}
	return out
}

// HourPrefix returns the hourly partition of t under an AWS region folder:
// …/yyyy/mm/dd/HH/, or …/year=yyyy/month=mm/day=dd/hour=HH/ in the
// Hive-compatible form.
func HourPrefix(regionFolder string, hive bool, t time.Time) string {
	if !strings.HasSuffix(regionFolder, "/") {
		regionFolder += "/"
	}
	t = t.UTC()
	if hive {
		return regionFolder + t.Format("year=2006/month=01/day=02/hour=15/")
	}
	return regionFolder + t.Format("2006/01/02/15/")
}

// IsHourFolder reports whether name (a folder's last part, without its
// slash) is an hourly partition: HH or hour=HH.
func IsHourFolder(name string) bool {
	name = strings.TrimPrefix(name, "hour=")
	return len(name) == 2 && allDigits(name) && name < "24"
}
