-- Web tamper watch screenshots: per watched page, the PNG of its baseline and of the change
-- that raised its alert (kind 'baseline' or 'current'), and when each was taken.

CREATE TABLE watch_images (
    name      TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('baseline', 'current')),
    taken_at  INTEGER NOT NULL,
    png       BLOB NOT NULL,
    PRIMARY KEY (name, kind)
);
