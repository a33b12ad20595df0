-- The console's counts and look-ups: resolves in a time window (mean time to resolve), cases
-- of the same type and resource, and alerts of the same actor (similar past cases).
CREATE INDEX timeline_kind_at ON timeline (kind, at);
CREATE INDEX cases_type_resource
    ON cases (json_extract(doc, '$.type'), json_extract(doc, '$.resource.id'));
CREATE INDEX alerts_actor_principal ON alerts (json_extract(doc, '$.alert.actor.principal'))
    WHERE json_extract(doc, '$.alert.actor.principal') IS NOT NULL;
CREATE INDEX alerts_actor_ip ON alerts (json_extract(doc, '$.alert.actor.ip'))
    WHERE json_extract(doc, '$.alert.actor.ip') IS NOT NULL;
