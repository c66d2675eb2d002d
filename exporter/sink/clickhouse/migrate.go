package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// State is what a server holds of the schema's database, as the system
// tables tell.
type State struct {
	Database bool
	Tables   map[string]TableState
}

// TableState is one table or view.
type TableState struct {
	Engine     string
	Comment    string
	SortingKey string
	Columns    []ColumnDef // name and type, in order
	Indexes    []string
}

// ReadState reads the database's tables, columns and skipping indexes.
// (db is a checked identifier: see Config.Validate.)
func ReadState(ctx context.Context, conn driver.Conn, db string) (*State, error) {
	st := &State{Tables: map[string]TableState{}}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.databases WHERE name = '"+db+"'").Scan(&n); err != nil {
		return nil, fmt.Errorf("read system.databases: %w", err)
	}
	if st.Database = n > 0; !st.Database {
		return st, nil
	}
	err := eachRow(ctx, conn, "system.tables", "SELECT name, engine, comment, sorting_key FROM system.tables WHERE database = '"+db+"'",
		func(rows driver.Rows) error {
			var name string
			var t TableState
			if err := rows.Scan(&name, &t.Engine, &t.Comment, &t.SortingKey); err != nil {
				return err
			}
			st.Tables[name] = t
			return nil
		})
	if err == nil {
		err = eachRow(ctx, conn, "system.columns", "SELECT table, name, type FROM system.columns WHERE database = '"+db+"' ORDER BY table, position",
			func(rows driver.Rows) error {
				var table string
				var c ColumnDef
				if err := rows.Scan(&table, &c.Name, &c.Type); err != nil {
					return err
				}
				t := st.Tables[table]
				t.Columns = append(t.Columns, c)
				st.Tables[table] = t
				return nil
			})
	}
	if err == nil {
		err = eachRow(ctx, conn, "system.data_skipping_indices", "SELECT table, name FROM system.data_skipping_indices WHERE database = '"+db+"'",
			func(rows driver.Rows) error {
				var table, name string
				if err := rows.Scan(&table, &name); err != nil {
					return err
				}
				t := st.Tables[table]
				t.Indexes = append(t.Indexes, name)
				st.Tables[table] = t
				return nil
			})
	}
	if err != nil {
		return nil, err
	}
	return st, nil
}

// eachRow runs q and calls scan for each row; errors name the table read.
func eachRow(ctx context.Context, conn driver.Conn, what, q string, scan func(driver.Rows) error) error {
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return fmt.Errorf("read %s: %w", what, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	return nil
}

// Step is one statement of a migration and why it is needed.
type Step struct {
	Why string
	SQL string
}

// ErrUnsafe is a difference flowlog will not resolve itself: it would lose
// or rewrite data.
var ErrUnsafe = errors.New("schema change refused")

// errUnnamed is an ErrUnsafe whose only cause is tables without a comment:
// tables another exporter may be creating at this moment.
var errUnnamed = errors.New("tables without flowlog's comment")

// Plan returns the statements that turn st into s, in order: nothing when
// they already agree. Differences it cannot resolve without losing data
// fail with ErrUnsafe and a message naming the table and column. Columns
// the configuration no longer fills (an enrichment turned off) are kept.
func (s *Schema) Plan(st *State) ([]Step, error) {
	var steps []Step
	if !st.Database {
		steps = append(steps, Step{"database " + s.DB + " is missing", s.createDatabase()})
	}
	var unsafe []string
	unnamed := 0 // tables without any comment: perhaps another exporter's, being made
	tables := append([]Table{s.Flows}, s.Rollups...)
	tables = append(tables, s.Fronts...)
	for i := range tables {
		t := &tables[i]
		cur, ok := st.Tables[t.Local]
		if !ok {
			steps = append(steps, Step{"table " + t.Local + " is missing", s.createTable(t)})
			continue
		}
		if !strings.HasPrefix(cur.Comment, "flowlog schema ") {
			if cur.Comment == "" {
				unnamed++
			}
			unsafe = append(unsafe, fmt.Sprintf("table %s.%s exists but flowlog did not create it (its comment is %q): rename it, or choose another database", s.DB, t.Local, cur.Comment))
			continue
		}
		if !strings.HasSuffix(cur.Comment, "layout "+t.layoutHash()) {
			unsafe = append(unsafe, fmt.Sprintf("table %s.%s: its engine, partitioning or sorting key differ from what this configuration wants (%s; PARTITION BY %s; ORDER BY %s): this needs a new table; drop or rename the old one once its data is copied",
				s.DB, t.Local, t.Engine, t.Partition, strings.Join(t.OrderBy, ", ")))
			continue
		}
		tsteps, msgs := s.alterTable(t, &cur)
		steps = append(steps, tsteps...)
		unsafe = append(unsafe, msgs...)
	}
	if len(unsafe) > 0 && unnamed == len(unsafe) {
		return steps, fmt.Errorf("%w: %w: %s", ErrUnsafe, errUnnamed, strings.Join(unsafe, "; "))
	}
	if len(unsafe) > 0 {
		return steps, fmt.Errorf("%w: %s", ErrUnsafe, strings.Join(unsafe, "; "))
	}
	for i := range s.Views {
		v := &s.Views[i]
		cur, ok := st.Tables[v.Name]
		switch {
		case !ok:
			steps = append(steps, Step{"view " + v.Name + " is missing", s.createView(v)})
		case cur.Comment != v.comment():
			steps = append(steps,
				Step{"view " + v.Name + " selects other columns than this configuration wants", "DROP VIEW IF EXISTS " + s.DB + "." + v.Name + s.onCluster()},
				Step{"", s.createView(v)})
		}
	}
	return steps, nil
}

// alterTable adds the columns and indexes t lacks and sets its TTL.
func (s *Schema) alterTable(t *Table, cur *TableState) (steps []Step, unsafe []string) {
	alter := "ALTER TABLE " + s.DB + "." + t.Local + s.onCluster() + " "
	prev := ""
	for _, c := range t.Columns {
		i := slices.IndexFunc(cur.Columns, func(x ColumnDef) bool { return x.Name == c.Name })
		if i < 0 {
			pos := " FIRST"
			if prev != "" {
				pos = " AFTER " + prev
			}
			add := "ADD COLUMN IF NOT EXISTS " + c.def() + pos
			if t.rollup && !strings.HasPrefix(t.Engine, "Distributed") && !slices.Contains([]string{"bytes", "packets", "flows"}, c.Name) {
				// A new dimension joins the sorting key, at its end: the one
				// change of sorting key ClickHouse allows, and in the same ALTER.
				add += ", MODIFY ORDER BY (" + cur.SortingKey + ", " + c.Name + ")"
				cur.SortingKey += ", " + c.Name
			}
			steps = append(steps, Step{fmt.Sprintf("table %s lacks column %s", t.Local, c.Name), alter + add})
		} else if !sameType(cur.Columns[i].Type, c.Type) {
			unsafe = append(unsafe, fmt.Sprintf("table %s.%s column %s is %s, this configuration wants %s: change or drop the column yourself (ALTER TABLE … MODIFY COLUMN) if the conversion is what you want",
				s.DB, t.Local, c.Name, cur.Columns[i].Type, c.Type))
		}
		prev = c.Name
	}
	for _, ix := range t.Indexes {
		if !slices.Contains(cur.Indexes, ix.Name) {
			steps = append(steps, Step{fmt.Sprintf("table %s lacks index %s", t.Local, ix.Name),
				alter + fmt.Sprintf("ADD INDEX IF NOT EXISTS %s %s TYPE %s", ix.Name, ix.Expr, ix.Type)})
		}
	}
	if cur.Comment != t.comment() && !strings.HasPrefix(t.Engine, "Distributed") {
		ttl := "REMOVE TTL"
		if t.TTL != "" {
			ttl = "MODIFY TTL " + t.TTL
		}
		if !strings.Contains(cur.Comment, fmt.Sprintf("; ttl %dd;", t.TTLDays)) {
			steps = append(steps, Step{fmt.Sprintf("table %s keeps rows %s", t.Local, days(t.TTLDays)), alter + ttl})
		}
	}
	if cur.Comment != t.comment() {
		steps = append(steps, Step{"", alter + "MODIFY COMMENT '" + t.comment() + "'"})
	}
	return steps, unsafe
}

func days(n int) string {
	if n == 0 {
		return "forever now"
	}
	return fmt.Sprintf("%d days now", n)
}

// sameType compares a type as written here with the type as the server
// prints it.
func sameType(server, want string) bool {
	norm := func(s string) string { return strings.ReplaceAll(s, " ", "") }
	return norm(server) == norm(want)
}
