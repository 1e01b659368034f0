import { availableParallelism } from 'node:os';
import { z } from 'zod';

/**
 * The one configuration schema. Every key has its default beside it; layers (defaults, file,
 * environment, flags) are merged before this schema sees them, and the result is frozen.
 */
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max);
const cores = availableParallelism();

const perMinuteLimits = z
  .object({
    send_message: int(1).default(60),
    join_room: int(1).default(10),
    create_room: int(1).default(3),
    upload_file: int(1).default(5),
    /** fetch_history, and REST history, thread and single-message reads. */
    fetch_history: int(1).default(300),
    /** Conversations named by `resume` frames (a frame costs one per position). */
    resume: int(1).default(2000),
    typing: int(1).default(120),
    /** edit_message, delete_message, pin_message, unpin_message and their REST forms. */
    edit_message: int(1).default(60),
    mark_read: int(1).default(300),
    /** leave_room and REST leave (joins have join_room). */
    leave_room: int(1).default(30),
    /** PATCH and DELETE /rooms/:id. */
    update_room: int(1).default(20),
    /** Other reads that reach an actor or the store: room info, members, pins, room and DM lists, create_dm. */
    read: int(1).default(600),
    /** WebSocket connections authenticated (at the upgrade or by frame): a flooder closed with 4429 cannot come straight back forever. */
    connect: int(1).default(60),
  })
  .strict();

/**
 * Adaptive limits (the seed's "rate limiting"): a user's costs are multiplied by a factor, so a
 * budget of N per minute is N / factor for them. Staff get more, new accounts less, and a user the
 * content pipeline caught spamming much less for a while (src/limits/budgets.ts).
 */
const adaptiveLimits = z
  .object({
    /** Moderators and admins (users.role): budgets times this. */
    staffFactor: z.number().min(1).max(1000).default(4),
    /** An account younger than this (seconds) is new... */
    newAccountS: int(0).default(86_400),
    /** ...and its budgets are divided by this. */
    newAccountFactor: z.number().min(1).max(1000).default(2),
    /** A user caught spamming (content_rejected for spam) has budgets divided by this... */
    spamPenaltyFactor: z.number().min(1).max(1000).default(4),
    /** ...for this long (seconds) after the last catch. */
    spamPenaltyS: int(0).default(600),
  })
  .strict();

/** The content pipeline (src/content/): word filter and spam thresholds. */
const contentSchema = z
  .object({
    /** Words refused in messages and names, matched through case, spacing, punctuation, accents and look-alike characters. */
    wordFilter: z.array(z.string().min(1).max(100)).max(10_000).default([]),
    /** The same text from one user more than this many times within repeatWindowS is spam. */
    repeatLimit: int(1).default(5),
    repeatWindowS: int(1).default(60),
    /** Links in one message above this are spam. */
    maxLinks: int(0).default(5),
    /** Distinct mentions in one message above this are spam. */
    maxMentions: int(0).default(25),
  })
  .strict();

export const configSchema = z
  .object({
    server: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: int(0, 65535).default(8080),
        /**
         * Front threads serving sockets (uWS Apps on the same port). Half the cores, like shards:
         * the main thread (and PGlite in it) needs a share too. On 2 cores one front was cheaper
         * than two on every bench suite (rooms 40-41 vs 44-46 us per delivery, fan-out 2.7 vs 3.0).
         */
        fronts: int(1, 64).default(Math.max(1, Math.floor(cores / 2))),
        /** Shard threads hosting actors. */
        shards: int(1, 64).default(Math.max(1, Math.floor(cores / 2))),
        /** Origins allowed to open a WebSocket (browsers send one); empty means any. Clients sending none (not browsers) are let in. */
        originAllowlist: z.array(z.string().min(1)).default([]),
        /** Largest REST request body, bytes. */
        maxBodyBytes: int(1024).default(1024 * 1024),
      })
      .strict()
      .prefault({}),
    dataDir: z.string().min(1).default('./data'),
    database: z
      .object({
        /** PostgreSQL primary; unset means embedded PGlite under dataDir. */
        url: z.string().url().optional(),
        /** Read replica for reads that may lag (history, search). */
        replicaUrl: z.string().url().optional(),
        poolSize: int(1, 1000).default(8),
        /** Embedded PGlite: checkpoint after this much WAL (MiB); see src/store/pglite-checkpoint.ts. */
        pgliteCheckpointMb: int(1, 16_384).default(64),
        /**
         * Embedded PGlite: fsync each commit before it is acknowledged (see
         * src/store/pglite-durable.ts). false: commits survive a crash of the process, not of the
         * machine, and each saves one fsync (0.2-0.3 ms here).
         */
        pgliteFsync: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    redis: z
      .object({ url: z.string().url().optional() })
      .strict()
      .prefault({}),
    auth: z
      .object({
        /** HS256 secret; required (32+ bytes) with PostgreSQL, generated and kept in dataDir when embedded. */
        jwtSecret: z.string().min(1).optional(),
        /** Seconds; a few seconds only makes sense in tests of renewal and expiry (test/client-*.ts). */
        accessTtlS: int(2, 86_400).default(900),
        refreshTtlS: int(60).default(30 * 86_400),
        /** Failed logins from one source on one account before each try waits (auth/throttle.ts). */
        loginAttempts: int(1).default(5),
        /** Failed logins older than this are forgotten. */
        loginWindowS: int(1).default(900),
        /** The first delay; it doubles with each further failure. */
        loginDelayMs: int(1).default(1000),
        loginMaxDelayS: int(1).default(300),
        /** Failed logins on one account from all sources before every source waits, at most accountMaxDelayS. */
        accountLoginAttempts: int(1).default(20),
        accountMaxDelayS: int(1).default(30),
        /** Login and registration attempts per source address and minute (per front thread). */
        sourceAttemptsPerMinute: int(1).default(30),
        /** Password hashes waiting for the CPU pool per front, and registrations or unknown-user logins per source (auth/hash-gate.ts). */
        hashMaxQueued: int(1).default(64),
        hashPerSource: int(1).default(4),
        /** A refresh token presented again within this many seconds of its rotation gets the same answer. */
        refreshGraceS: int(0, 60).default(5),
        minPasswordLength: int(8, 1024).default(8),
        /** scrypt cost: N = 2^scryptLogN, r, p. */
        scryptLogN: int(10, 20).default(17),
        scryptR: int(1, 32).default(8),
        scryptP: int(1, 16).default(1),
      })
      .strict()
      .prefault({}),
    limits: z
      .object({
        maxFrameBytes: int(1024).default(2 * 1024 * 1024),
        maxContentChars: int(1).default(10_000),
        maxBackpressureBytes: int(1024).default(1024 * 1024),
        slowConsumer: z.enum(['skip', 'close']).default('close'),
        roomsPerUser: int(1).default(100),
        filesPerMessage: int(0).default(10),
        fileBytes: int(1).default(10 * 1024 * 1024),
        perMinute: perMinuteLimits.prefault({}),
        adaptive: adaptiveLimits.prefault({}),
        /**
         * Frames a socket may send per second, whatever they are (pings, unknown operations and
         * invalid frames too, which no per-user budget counts), with a burst of twice that; past it
         * each frame is answered `rate_limited` and counts toward the 4429 close.
         */
        framesPerSecond: int(1).default(100),
        /** Open WebSockets per user and per source address (across the node's fronts). */
        connectionsPerUser: int(1).default(20),
        connectionsPerSource: int(1).default(200),
      })
      .strict()
      .prefault({}),
    content: contentSchema.prefault({}),
    ws: z
      .object({
        heartbeatMs: int(1000).default(30_000),
        idleTimeoutMs: int(2000).default(60_000),
        authTimeoutMs: int(100).default(10_000),
      })
      .strict()
      .refine((w) => w.heartbeatMs < w.idleTimeoutMs, {
        path: ['heartbeatMs'],
        message: 'must be below idleTimeoutMs (a client that answers pings would otherwise be closed)',
      })
      .prefault({}),
    /** Presence and typing (docs/ARCHITECTURE.md "Presence and typing"). */
    presence: z
      .object({
        /** A room publishes the presence changes of its members at most once per window. */
        windowMs: int(10, 60_000).default(1000),
        /** Presence events a room publishes per window at most; later changes wait for the next. */
        maxPerWindow: int(1, 10_000).default(50),
        /** A `typing` start with no stop is ended by the server (state `stop`) this long after the last start. */
        typingExpireMs: int(100, 60_000).default(5000),
        /** Repeated starts of one user in one conversation within this are not broadcast again. */
        typingThrottleMs: int(0, 60_000).default(3000),
      })
      .strict()
      .refine((p) => p.typingThrottleMs < p.typingExpireMs, {
        path: ['typingThrottleMs'],
        message: 'must be below typingExpireMs (a client repeating start would otherwise be seen to stop)',
      })
      .prefault({}),
    runtime: z
      .object({
        /** Bytes of each SharedArrayBuffer ring between two threads. */
        ringBytes: int(4096).default(4 * 1024 * 1024),
        /** Largest envelope a ring carries; larger ones are refused with a clear error. */
        maxEnvelopeBytes: int(256).default(4 * 1024 * 1024),
        /** Envelopes a producer holds while its ring is full before it asks its caller to stop reading. */
        overflowLimit: int(1).default(10_000),
        passivateAfterMs: int(100).default(5 * 60_000),
        askTimeoutMs: int(10).default(10_000),
        /** Group commit: flush when this many rows wait, or after commitWindowMs. */
        commitBatch: int(1, 10_000).default(256),
        commitWindowMs: int(0, 1000).default(2),
        /** Group commit under load: a flush starts at least this long after the previous one started. */
        commitIntervalMs: int(0, 1000).default(10),
        /**
         * A shard under traffic polls its rings every this many ms instead of being woken for each
         * record (0: woken every time). Its rows wait for a group commit anyway (commitIntervalMs);
         * this spares the fronts a cross-thread notify per message and the shard most wake-ups.
         */
        shardNapMs: int(0, 100).default(1),
        /**
         * Largest young generation of a front or shard thread's V8 heap, in MiB (0: V8's default,
         * 48). A burst of handshakes grows it to whatever it needed and an idle thread never gives
         * those pages back, so at the default the memory an idle connection seems to cost depended
         * on the burst; 24 (8 MiB semi-spaces) measured no CPU cost under the rooms load.
         */
        workerYoungGenerationMb: int(0, 1024).default(24),
        /** Recent events each RoomActor keeps in memory for joins, history and resume. */
        recentWindow: int(0, 100_000).default(500),
        cpuThreads: int(1, 64).default(Math.max(1, Math.min(2, cores))),
        cpuMaxQueue: int(1).default(256),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
        /** Human-readable lines for a developer's terminal (needs the pino-pretty devDependency); JSON otherwise. */
        pretty: z.boolean().default(false),
        /** More fields to redact in log lines (pino paths, e.g. `req.headers.cookie`), beside the built-in secrets list (src/log.ts). */
        redact: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .prefault({}),
    /** Prometheus metrics (docs/ARCHITECTURE.md "Observability"). */
    metrics: z
      .object({
        /** Serve `GET /metrics`. */
        enabled: z.boolean().default(true),
        /** `host:port`: serve /metrics only there (an internal address), not on the main port. */
        listen: z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, 'expected host:port').optional(),
      })
      .strict()
      .prefault({}),
    /** The admin API (`GET /api/v1/admin/status`, `veza-chat status` and `top`): off without a token. */
    admin: z
      .object({ token: z.string().min(16).optional() })
      .strict()
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
