-- Rich text (history read model): how each body is written, and the HTML it renders to.
-- NULL format is plain text, whose html is NULL too. The HTML is derived from the body (and
-- the mentions it names) and goes with it: deletes clear both.
ALTER TABLE messages ADD COLUMN format text, ADD COLUMN html text;
-- The version an edit replaced: its format and HTML, besides its body.
ALTER TABLE message_edits ADD COLUMN format_before text, ADD COLUMN html_before text;
