"""The schema of the SQL state stores, as migrations, one list per dialect.

Both lists sit side by side so a change is written for both at once: version
N means the same tables and columns on SQLite and on PostgreSQL. Each
migration is applied once, in order, inside the transaction that opens the
store (``sql.SqlStore._migrate``); never edit a released one, append a new
one to both lists. The lineage and serial rows are not part of a migration:
a store gets them when it is created (``create=True``), and an upgrade never
creates a store. Version 3 holds the results pushed by the vendors; version 4
the dialing policy (opt-outs, send times); version 5 the plan caches (parsed
contact sources, convergence markers) and the phones of unsettled journal
entries; version 6 what a convergence marker's campaign had suppressed (so a
marker holds while the do-not-call and opt-out lists are unchanged) and what
stands with it (warnings, task phases, numbers queued beyond the table);
version 7 the phone lists of cached contact tables (the check across running
campaigns reads them instead of parsing unchanged files) and indexes of
contacts and results by phone (a frequency cap reads the history of the
numbers it is asked about, not every record); version 8 indexes by data id only the contacts
that have one (a task insert's rows have none: two B-trees written per row, not three).
"""

from __future__ import annotations

__all__ = ["POSTGRES", "SQLITE"]

SQLITE: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE campaigns (
            name TEXT PRIMARY KEY,
            profile TEXT NOT NULL,
            mode TEXT NOT NULL,
            provider_type TEXT NOT NULL DEFAULT ''
        ) WITHOUT ROWID;
        CREATE TABLE tasks (
            campaign TEXT NOT NULL,
            task_id TEXT NOT NULL,
            wave INTEGER NOT NULL,
            profile TEXT NOT NULL,
            remote_name TEXT NOT NULL,
            settings_fingerprint TEXT NOT NULL,
            started INTEGER NOT NULL DEFAULT 0,
            deleted INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (campaign, task_id)
        ) WITHOUT ROWID;
        CREATE TABLE contacts (
            campaign TEXT NOT NULL,
            task_id TEXT NOT NULL,
            phone TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            wave INTEGER NOT NULL DEFAULT 0,
            data_id TEXT,
            status TEXT NOT NULL,
            PRIMARY KEY (campaign, task_id, phone)
        ) WITHOUT ROWID;
        CREATE TABLE journal (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            campaign TEXT NOT NULL,
            profile TEXT NOT NULL,
            call TEXT NOT NULL,
            task_id TEXT NOT NULL,
            outcome TEXT NOT NULL,
            request TEXT NOT NULL DEFAULT '{}',
            result TEXT NOT NULL DEFAULT '{}',
            detail TEXT NOT NULL DEFAULT '',
            started_at TEXT NOT NULL DEFAULT '',
            finished_at TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX journal_campaign ON journal (campaign, id);
        CREATE INDEX journal_outcome ON journal (outcome, id);
        CREATE TABLE lock (
            one INTEGER PRIMARY KEY CHECK (one = 1),
            lock_id TEXT NOT NULL,
            holder TEXT NOT NULL,
            operation TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        """,
    ),
    (
        2,
        """
        ALTER TABLE tasks ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE tasks ADD COLUMN run_state TEXT NOT NULL DEFAULT ''
        """,
    ),
    (
        3,
        """
        CREATE TABLE results (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            profile TEXT NOT NULL,
            module TEXT NOT NULL,
            push_key TEXT NOT NULL,
            call_key TEXT NOT NULL DEFAULT '',
            task_id TEXT NOT NULL DEFAULT '',
            data_id TEXT NOT NULL DEFAULT '',
            callee TEXT NOT NULL DEFAULT '',
            campaign TEXT NOT NULL DEFAULT '',
            phone TEXT NOT NULL DEFAULT '',
            received_at TEXT NOT NULL DEFAULT '',
            body TEXT NOT NULL DEFAULT '{}',
            UNIQUE (profile, module, push_key)
        );
        CREATE INDEX results_contact ON results (campaign, phone, id);
        CREATE INDEX results_call ON results (profile, call_key);
        CREATE INDEX contacts_data_id ON contacts (data_id)
        """,
    ),
    (
        4,
        # Dialing policy: the opt-out list (one row per listing, removals kept), when each contact was
        # sent (frequency caps; rows from before have no send time: they count as sent at the upgrade), and
        # per result push why it means "do not call me again" (the receiver's opt-out rules; '' = it does not).
        """
        CREATE TABLE optouts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            phone TEXT NOT NULL,
            source TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            removed_at TEXT NOT NULL DEFAULT '',
            removed_reason TEXT NOT NULL DEFAULT ''
        );
        CREATE UNIQUE INDEX optouts_active ON optouts (phone) WHERE removed_at = '';
        ALTER TABLE contacts ADD COLUMN sent_at TEXT NOT NULL DEFAULT '';
        UPDATE contacts SET sent_at = strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now');
        ALTER TABLE results ADD COLUMN optout TEXT NOT NULL DEFAULT ''
        """,
    ),
    (
        5,
        """
        CREATE TABLE source_digests (
            key TEXT PRIMARY KEY,
            digest TEXT NOT NULL,
            rows INTEGER NOT NULL,
            problems TEXT NOT NULL DEFAULT '[]',
            written_at TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE converged (
            campaign TEXT PRIMARY KEY,
            digest TEXT NOT NULL,
            settings_fingerprint TEXT NOT NULL,
            written_at TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE journal_phones (
            entry_id INTEGER PRIMARY KEY,
            phones TEXT NOT NULL
        )
        """,
    ),
    (
        6,
        """
        ALTER TABLE converged ADD COLUMN suppression TEXT NOT NULL DEFAULT '';
        ALTER TABLE converged ADD COLUMN suppressed TEXT NOT NULL DEFAULT '[]';
        ALTER TABLE converged ADD COLUMN standing TEXT NOT NULL DEFAULT ''
        """,
    ),
    (
        7,
        # A rowid table: its rows are large (a table's numbers, ~12 bytes each), which WITHOUT ROWID suits badly.
        """
        CREATE TABLE phone_lists (
            digest TEXT PRIMARY KEY,
            rows INTEGER NOT NULL,
            checksum TEXT NOT NULL,
            phones TEXT NOT NULL,
            written_at TEXT NOT NULL
        );
        CREATE INDEX contacts_phone ON contacts (phone);
        CREATE INDEX results_phone ON results (phone, id)
        """,
    ),
    (
        8,
        # A task insert's contacts have no data id (only direct callouts get one): the index of data ids
        # keeps just the rows that have one, which the results join asks for (``data_id = ?``).
        """
        DROP INDEX contacts_data_id;
        CREATE INDEX contacts_data_id ON contacts (data_id) WHERE data_id IS NOT NULL
        """,
    ),
    (
        9,
        # contacts.status may now be 'removed' (taken out of a started task, kept as history): a version
        # of campaignctl that does not know it must refuse this state rather than read it as damaged
        """
        UPDATE contacts SET status = status WHERE 0 = 1
        """,
    ),
)


# Key columns use the "C" collation so ordering matches SQLite's.
POSTGRES: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE meta (
            one integer PRIMARY KEY CHECK (one = 1),
            lineage text NOT NULL,
            serial bigint NOT NULL
        );
        CREATE TABLE campaigns (
            name text COLLATE "C" PRIMARY KEY,
            profile text NOT NULL,
            mode text NOT NULL,
            provider_type text NOT NULL DEFAULT ''
        );
        CREATE TABLE tasks (
            campaign text COLLATE "C" NOT NULL,
            task_id text COLLATE "C" NOT NULL,
            wave integer NOT NULL,
            profile text NOT NULL,
            remote_name text NOT NULL,
            settings_fingerprint text NOT NULL,
            started boolean NOT NULL DEFAULT false,
            deleted boolean NOT NULL DEFAULT false,
            created_at text NOT NULL DEFAULT '',
            PRIMARY KEY (campaign, task_id)
        );
        CREATE TABLE contacts (
            campaign text COLLATE "C" NOT NULL,
            task_id text COLLATE "C" NOT NULL,
            phone text COLLATE "C" NOT NULL,
            fingerprint text NOT NULL,
            wave integer NOT NULL DEFAULT 0,
            data_id text,
            status text NOT NULL,
            PRIMARY KEY (campaign, task_id, phone)
        );
        CREATE TABLE journal (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            campaign text NOT NULL,
            profile text NOT NULL,
            call text NOT NULL,
            task_id text NOT NULL,
            outcome text NOT NULL,
            request jsonb NOT NULL DEFAULT '{}',
            result jsonb NOT NULL DEFAULT '{}',
            detail text NOT NULL DEFAULT '',
            started_at text NOT NULL DEFAULT '',
            finished_at text NOT NULL DEFAULT ''
        );
        CREATE INDEX journal_campaign ON journal (campaign, id);
        CREATE INDEX journal_outcome ON journal (outcome, id);
        CREATE TABLE lock_holder (
            one integer PRIMARY KEY CHECK (one = 1),
            lock_id text NOT NULL,
            holder text NOT NULL,
            operation text NOT NULL,
            created_at text NOT NULL,
            backend_pid integer NOT NULL
        )
        """,
    ),
    (
        2,
        """
        ALTER TABLE tasks ADD COLUMN settings jsonb NOT NULL DEFAULT '{}',
            ADD COLUMN run_state text NOT NULL DEFAULT ''
        """,
    ),
    (
        3,
        """
        CREATE TABLE results (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            profile text COLLATE "C" NOT NULL,
            module text COLLATE "C" NOT NULL,
            push_key text COLLATE "C" NOT NULL,
            call_key text COLLATE "C" NOT NULL DEFAULT '',
            task_id text COLLATE "C" NOT NULL DEFAULT '',
            data_id text COLLATE "C" NOT NULL DEFAULT '',
            callee text COLLATE "C" NOT NULL DEFAULT '',
            campaign text COLLATE "C" NOT NULL DEFAULT '',
            phone text COLLATE "C" NOT NULL DEFAULT '',
            received_at text NOT NULL DEFAULT '',
            body jsonb NOT NULL DEFAULT '{}',
            UNIQUE (profile, module, push_key)
        );
        CREATE INDEX results_contact ON results (campaign, phone, id);
        CREATE INDEX results_call ON results (profile, call_key);
        CREATE INDEX contacts_data_id ON contacts (data_id)
        """,
    ),
    (
        4,
        """
        CREATE TABLE optouts (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            phone text COLLATE "C" NOT NULL,
            source text NOT NULL,
            reason text NOT NULL DEFAULT '',
            created_at text NOT NULL,
            removed_at text NOT NULL DEFAULT '',
            removed_reason text NOT NULL DEFAULT ''
        );
        CREATE UNIQUE INDEX optouts_active ON optouts (phone) WHERE removed_at = '';
        ALTER TABLE contacts ADD COLUMN sent_at text NOT NULL DEFAULT '';
        UPDATE contacts SET sent_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"');
        ALTER TABLE results ADD COLUMN optout text NOT NULL DEFAULT ''
        """,
    ),
    (
        5,
        """
        CREATE TABLE source_digests (
            key text COLLATE "C" PRIMARY KEY,
            digest text NOT NULL,
            rows integer NOT NULL,
            problems jsonb NOT NULL DEFAULT '[]',
            written_at text NOT NULL
        );
        CREATE TABLE converged (
            campaign text COLLATE "C" PRIMARY KEY,
            digest text NOT NULL,
            settings_fingerprint text NOT NULL,
            written_at text NOT NULL
        );
        CREATE TABLE journal_phones (
            entry_id bigint PRIMARY KEY,
            phones text NOT NULL
        )
        """,
    ),
    (
        6,
        """
        ALTER TABLE converged ADD COLUMN suppression text NOT NULL DEFAULT '';
        ALTER TABLE converged ADD COLUMN suppressed text NOT NULL DEFAULT '[]';
        ALTER TABLE converged ADD COLUMN standing text NOT NULL DEFAULT ''
        """,
    ),
    (
        7,
        """
        CREATE TABLE phone_lists (
            digest text COLLATE "C" PRIMARY KEY,
            rows integer NOT NULL,
            checksum text NOT NULL,
            phones text NOT NULL,
            written_at text NOT NULL
        );
        CREATE INDEX contacts_phone ON contacts (phone);
        CREATE INDEX results_phone ON results (phone, id)
        """,
    ),
    (
        8,
        # A task insert's contacts have no data id (only direct callouts get one): the index of data ids
        # keeps just the rows that have one, which the results join asks for (``data_id = ?``).
        """
        DROP INDEX contacts_data_id;
        CREATE INDEX contacts_data_id ON contacts (data_id) WHERE data_id IS NOT NULL
        """,
    ),
    (
        9,
        # contacts.status may now be 'removed' (taken out of a started task, kept as history): a version
        # of campaignctl that does not know it must refuse this state rather than read it as damaged
        """
        UPDATE contacts SET status = status WHERE 0 = 1
        """,
    ),
)
