// Logs in with pgjdbc and prints who it is, `user=<name>`, or
// `error <SQLSTATE> <message>`. With sslmode=verify-full in the URL pgjdbc
// connects only over TLS to a server whose certificate it verified. Run as
// a single-file program:
//   java -cp /usr/share/java/postgresql.jar Login.java <jdbc url> <user> <password>
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;

public class Login {
    public static void main(String[] args) {
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", args[2]);
        try (Connection c = DriverManager.getConnection(args[0], props);
             Statement s = c.createStatement();
             ResultSet r = s.executeQuery("SELECT current_user")) {
            r.next();
            System.out.println("user=" + r.getString(1));
        } catch (SQLException e) {
            System.out.println("error " + e.getSQLState() + " " + e.getMessage());
        }
    }
}
