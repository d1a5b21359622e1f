// The tables as the migrations in `migrations/` create them (`diesel print-schema` layout).

diesel::table! {
    attendances (id) {
        id -> Uuid,
        event_id -> Uuid,
        user_id -> Nullable<Uuid>,
        guest_name -> Nullable<Text>,
        guest_email -> Nullable<Text>,
        status -> Text,
        role -> Text,
        share_profile -> Bool,
        share_profile_at -> Nullable<Timestamptz>,
        checkin_code -> Text,
        checked_in_at -> Nullable<Timestamptz>,
        sync_state -> Text,
        sync_view -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
        waitlisted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    calendar_feeds (owner_id) {
        owner_id -> Uuid,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        content_etag -> Nullable<Text>,
        content_changed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    contacts (id) {
        id -> Uuid,
        owner_id -> Uuid,
        name -> Text,
        organization -> Nullable<Text>,
        job_title -> Nullable<Text>,
        city -> Nullable<Text>,
        emails -> Array<Text>,
        phones -> Array<Text>,
        links -> Array<Text>,
        tags -> Array<Text>,
        notes -> Text,
        how_we_met -> Text,
        met_at_event_id -> Nullable<Uuid>,
        first_met_on -> Nullable<Date>,
        they_brought -> Text,
        i_can_offer -> Text,
        met_in_person -> Bool,
        keep_in_touch_days -> Nullable<Int4>,
        starred -> Bool,
        last_interaction_at -> Nullable<Timestamptz>,
        sync_state -> Text,
        sync_view -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
        source_user_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    devices (id) {
        id -> Uuid,
        owner_id -> Uuid,
        platform -> Text,
        name -> Text,
        push_provider -> Nullable<Text>,
        push_token -> Nullable<Text>,
        app_version -> Nullable<Text>,
        active -> Bool,
        deactivated_at -> Nullable<Timestamptz>,
        last_mutation_id -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    events (id) {
        id -> Uuid,
        organizer_id -> Uuid,
        kind -> Text,
        title -> Text,
        description -> Nullable<Text>,
        venue -> Nullable<Text>,
        address -> Nullable<Text>,
        city -> Nullable<Text>,
        starts_at -> Timestamptz,
        ends_at -> Nullable<Timestamptz>,
        timezone -> Text,
        capacity -> Nullable<Int4>,
        visibility -> Text,
        attendee_list_visibility -> Text,
        join_code -> Text,
        sync_state -> Text,
        sync_view -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    interactions (id) {
        id -> Uuid,
        owner_id -> Uuid,
        contact_id -> Uuid,
        kind -> Text,
        occurred_at -> Timestamptz,
        notes -> Text,
        event_id -> Nullable<Uuid>,
        sync_state -> Text,
        sync_view -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    join_code_failures (id) {
        id -> Int8,
        user_id -> Uuid,
        client_ip -> Text,
        failed_at -> Timestamptz,
    }
}

diesel::table! {
    login_failures (id) {
        id -> Int8,
        email_lower -> Text,
        client_ip -> Text,
        failed_at -> Timestamptz,
    }
}

diesel::table! {
    profile_cards (owner_id) {
        owner_id -> Uuid,
        headline -> Nullable<Text>,
        organization -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        links -> Array<Text>,
        city -> Nullable<Text>,
        sync_state -> Text,
        sync_view -> Nullable<Text>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    push_jobs (id) {
        id -> Int8,
        reminder_id -> Uuid,
        device_id -> Uuid,
        owner_id -> Uuid,
        fires_at -> Timestamptz,
        payload -> Jsonb,
        status -> Text,
        attempts -> Int4,
        run_at -> Timestamptz,
        locked_by -> Nullable<Text>,
        locked_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Bytea,
        session_id -> Uuid,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    reminders (id) {
        id -> Uuid,
        owner_id -> Uuid,
        contact_id -> Nullable<Uuid>,
        event_id -> Nullable<Uuid>,
        title -> Text,
        notes -> Text,
        due_local -> Timestamp,
        timezone -> Text,
        due_at -> Timestamptz,
        repeat_every -> Nullable<Int4>,
        repeat_unit -> Nullable<Text>,
        snoozed_until -> Nullable<Timestamptz>,
        status -> Text,
        completed_at -> Nullable<Timestamptz>,
        origin -> Text,
        sync_state -> Text,
        sync_view -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
        pushed_for -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        user_agent -> Nullable<Text>,
        created_at -> Timestamptz,
        last_used_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    sync_changes (xid, seq) {
        xid -> Int8,
        seq -> Int8,
        collection -> Text,
        record_id -> Uuid,
        user_id -> Nullable<Uuid>,
        event_id -> Nullable<Uuid>,
        changed_at -> Timestamptz,
    }
}

diesel::table! {
    sync_conflicts (id) {
        id -> Int8,
        user_id -> Uuid,
        collection -> Text,
        record_id -> Uuid,
        field -> Text,
        kind -> Text,
        kept -> Jsonb,
        lost -> Jsonb,
        lost_stamp -> Text,
        lost_device -> Text,
        at -> Timestamptz,
    }
}

diesel::table! {
    sync_horizon (id) {
        id -> Bool,
        xid -> Int8,
        seq -> Int8,
        collected_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        password_hash -> Text,
        display_name -> Text,
        timezone -> Text,
        locale -> Text,
        region -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(attendances -> events (event_id));
diesel::joinable!(attendances -> users (user_id));
diesel::joinable!(calendar_feeds -> users (owner_id));
diesel::joinable!(devices -> users (owner_id));
diesel::joinable!(events -> users (organizer_id));
diesel::joinable!(interactions -> contacts (contact_id));
diesel::joinable!(join_code_failures -> users (user_id));
diesel::joinable!(profile_cards -> users (owner_id));
diesel::joinable!(push_jobs -> devices (device_id));
diesel::joinable!(push_jobs -> reminders (reminder_id));
diesel::joinable!(push_jobs -> users (owner_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(reminders -> users (owner_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(sync_conflicts -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    attendances,
    calendar_feeds,
    contacts,
    devices,
    events,
    interactions,
    join_code_failures,
    login_failures,
    profile_cards,
    push_jobs,
    refresh_tokens,
    reminders,
    sessions,
    sync_changes,
    sync_conflicts,
    sync_horizon,
    users,
);
