package jsonenc

import "time"

// maxUnix is 9999-12-31T23:59:59Z, the last second with a four-digit year.
const maxUnix = 253402300799

// Time appends unix seconds as a quoted RFC 3339 UTC date,
// "2006-01-02T15:04:05Z". It is exact for years 1970 to 9999 and falls back
// to package time outside them. (time.Time.AppendFormat gives the same bytes
// at several times the cost; dates are three of every document's fields.)
func Time(dst []byte, sec int64) []byte {
	if sec < 0 || sec > maxUnix {
		dst = append(dst, '"')
		dst = time.Unix(sec, 0).UTC().AppendFormat(dst, time.RFC3339)
		return append(dst, '"')
	}
	days, rem := sec/86400, sec%86400
	// Civil date from days since 1970-01-01, in an era-based calendar that
	// starts years in March so the leap day comes last.
	z := days + 719468
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	year := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day := doy - (153*mp+2)/5 + 1
	month := mp + 3
	if month > 12 {
		month -= 12
	}
	if month <= 2 {
		year++
	}
	var b [22]byte
	b[0] = '"'
	put4(b[1:], year)
	b[5] = '-'
	put2(b[6:], month)
	b[8] = '-'
	put2(b[9:], day)
	b[11] = 'T'
	put2(b[12:], rem/3600)
	b[14] = ':'
	put2(b[15:], rem/60%60)
	b[17] = ':'
	put2(b[18:], rem%60)
	b[20] = 'Z'
	b[21] = '"'
	return append(dst, b[:]...)
}

func put2(b []byte, v int64) {
	b[0] = byte('0' + v/10)
	b[1] = byte('0' + v%10)
}

func put4(b []byte, v int64) {
	put2(b, v/100)
	put2(b[2:], v%100)
}
