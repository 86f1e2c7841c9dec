CREATE TABLE "known_host_keys" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"ip" text NOT NULL,
	"port" integer NOT NULL,
	"sha256" text NOT NULL,
	"source" text NOT NULL,
	"learned_in_scan_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "known_host_keys_endpoint_unique" UNIQUE("ip","port"),
	CONSTRAINT "known_host_keys_port_check" CHECK ("known_host_keys"."port" between 1 and 65535)
);
--> statement-breakpoint
ALTER TABLE "known_host_keys" ADD CONSTRAINT "known_host_keys_learned_in_scan_id_scans_id_fk" FOREIGN KEY ("learned_in_scan_id") REFERENCES "public"."scans"("id") ON DELETE set null ON UPDATE no action;