CREATE TABLE "appliances" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "appliances_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "assets" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"kind" text NOT NULL,
	"value" text NOT NULL,
	"first_ip" text NOT NULL,
	"last_ip" text NOT NULL,
	"ip_version" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "assets_kind_check" CHECK ("assets"."kind" in ('ip', 'range', 'cidr')),
	CONSTRAINT "assets_ip_version_check" CHECK ("assets"."ip_version" in (4, 6))
);
--> statement-breakpoint
CREATE TABLE "auth_records" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"technology" text NOT NULL,
	"targets" text NOT NULL,
	"ranges" jsonb NOT NULL,
	"username" text NOT NULL,
	"port" integer NOT NULL,
	"vault_id" uuid NOT NULL,
	"locator" jsonb NOT NULL,
	"fields" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "auth_records_name_unique" UNIQUE("name"),
	CONSTRAINT "auth_records_port_check" CHECK ("auth_records"."port" between 1 and 65535)
);
--> statement-breakpoint
CREATE TABLE "host_attempts" (
	"result_id" uuid NOT NULL,
	"attempt_no" integer NOT NULL,
	"code" text,
	"vendor_code" text,
	"http_status" integer,
	"message" text,
	"at" timestamp with time zone NOT NULL,
	CONSTRAINT "host_attempts_result_attempt" PRIMARY KEY("result_id","attempt_no")
);
--> statement-breakpoint
CREATE TABLE "host_packages" (
	"result_id" uuid NOT NULL,
	"name" text NOT NULL,
	"version" text NOT NULL,
	"arch" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "host_results" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"scan_id" uuid NOT NULL,
	"ip" text NOT NULL,
	"ip_key" numeric(39, 0) NOT NULL,
	"technology" text NOT NULL,
	"category" text NOT NULL,
	"error_code" text,
	"vendor_code" text,
	"cause" text,
	"login" text,
	"auth_record_id" uuid,
	"facts" jsonb,
	"package_count" integer DEFAULT 0 NOT NULL,
	"finished_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "host_results_scan_ip_technology" UNIQUE("scan_id","ip","technology"),
	CONSTRAINT "host_results_category_check" CHECK ("host_results"."category" in ('PASSED', 'INSUFFICIENT_PRIVILEGES', 'FAILED', 'NOT_ATTEMPTED', 'UNREACHABLE'))
);
--> statement-breakpoint
CREATE TABLE "option_profiles" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"technologies" text[] NOT NULL,
	"max_parallel_hosts" integer NOT NULL,
	"timeouts" jsonb NOT NULL,
	"retry" jsonb NOT NULL,
	"is_default" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "option_profiles_name_unique" UNIQUE("name"),
	CONSTRAINT "option_profiles_parallel_check" CHECK ("option_profiles"."max_parallel_hosts" > 0)
);
--> statement-breakpoint
CREATE TABLE "scans" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"title" text NOT NULL,
	"targets" text NOT NULL,
	"ranges" jsonb NOT NULL,
	"host_count" integer NOT NULL,
	"option_profile_id" uuid NOT NULL,
	"appliance_id" uuid NOT NULL,
	"status" text DEFAULT 'QUEUED' NOT NULL,
	"workflow_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"summary" jsonb,
	CONSTRAINT "scans_status_check" CHECK ("scans"."status" in ('QUEUED', 'RUNNING', 'FINISHED', 'CANCELED', 'FAILED'))
);
--> statement-breakpoint
CREATE TABLE "vault_records" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"type" text NOT NULL,
	"config" jsonb NOT NULL,
	"access_ciphertext" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "vault_records_name_unique" UNIQUE("name")
);
--> statement-breakpoint
ALTER TABLE "auth_records" ADD CONSTRAINT "auth_records_vault_id_vault_records_id_fk" FOREIGN KEY ("vault_id") REFERENCES "public"."vault_records"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "host_attempts" ADD CONSTRAINT "host_attempts_result_id_host_results_id_fk" FOREIGN KEY ("result_id") REFERENCES "public"."host_results"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "host_packages" ADD CONSTRAINT "host_packages_result_id_host_results_id_fk" FOREIGN KEY ("result_id") REFERENCES "public"."host_results"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "host_results" ADD CONSTRAINT "host_results_scan_id_scans_id_fk" FOREIGN KEY ("scan_id") REFERENCES "public"."scans"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "host_results" ADD CONSTRAINT "host_results_auth_record_id_auth_records_id_fk" FOREIGN KEY ("auth_record_id") REFERENCES "public"."auth_records"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "scans" ADD CONSTRAINT "scans_option_profile_id_option_profiles_id_fk" FOREIGN KEY ("option_profile_id") REFERENCES "public"."option_profiles"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "scans" ADD CONSTRAINT "scans_appliance_id_appliances_id_fk" FOREIGN KEY ("appliance_id") REFERENCES "public"."appliances"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "auth_records_vault_idx" ON "auth_records" USING btree ("vault_id");--> statement-breakpoint
CREATE INDEX "host_packages_result_idx" ON "host_packages" USING btree ("result_id");--> statement-breakpoint
CREATE INDEX "host_results_scan_order_idx" ON "host_results" USING btree ("scan_id","ip_key","technology");--> statement-breakpoint
CREATE INDEX "host_results_scan_category_idx" ON "host_results" USING btree ("scan_id","category","ip_key");--> statement-breakpoint
CREATE INDEX "host_results_auth_record_idx" ON "host_results" USING btree ("auth_record_id");--> statement-breakpoint
CREATE UNIQUE INDEX "option_profiles_one_default" ON "option_profiles" USING btree ("is_default") WHERE is_default;--> statement-breakpoint
CREATE INDEX "scans_created_idx" ON "scans" USING btree ("created_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "scans_option_profile_idx" ON "scans" USING btree ("option_profile_id");--> statement-breakpoint
CREATE INDEX "scans_appliance_idx" ON "scans" USING btree ("appliance_id");